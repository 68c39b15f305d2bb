#!/usr/bin/env node
// `npm start`: Node-RED from the project's own dependency with dist/settings.js (which seeds
// the default flow on a first start). Extra arguments go to Node-RED.
'use strict';
const path = require('node:path');
const { spawn } = require('node:child_process');

const settingsFile = path.resolve(__dirname, '..', 'dist', 'settings.js');
const red = require.resolve('node-red/red.js');
// Node's own flags (package.json config.nodeArgs): the heap capped as Node-RED advises for
// Raspberry Pi class gateways, and V8's young generation at 8 MiB a half instead of 16, which
// keep memory bounded when scales outpace the disk (README, "Installing from the palette").
const nodeArgs = require('../package.json').config.nodeArgs.split(' ').filter(Boolean);
const child = spawn(process.execPath, [...nodeArgs, red, '--settings', settingsFile, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
