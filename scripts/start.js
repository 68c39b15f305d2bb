#!/usr/bin/env node
// `npm start`: Node-RED from the project's own dependency, with dist/settings.js and a user
// directory under ./data/. A first start seeds the user directory with the starter flow.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const settingsFile = path.join(root, 'dist', 'settings.js');
const settings = require(settingsFile);
const flowFile = path.join(settings.userDir, settings.flowFile);
const starterFlow = path.join(root, 'flows', process.env.CARNITRACK_FLOW || 'scale-to-debug.json');

fs.mkdirSync(settings.userDir, { recursive: true });
if (!fs.existsSync(flowFile)) {
  fs.copyFileSync(starterFlow, flowFile);
  console.log(`seeded ${path.relative(root, flowFile)} from ${path.relative(root, starterFlow)}`);
}

const red = require.resolve('node-red/red.js');
const child = spawn(process.execPath, [red, '--settings', settingsFile, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
