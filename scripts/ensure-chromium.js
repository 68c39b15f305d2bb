#!/usr/bin/env node
// Before `npm test`: the editor test drives Debian's Chromium. Installs it when missing and
// this user may (root with apt-get), else says what to do. Browser downloads by test tools
// (npx playwright install) cannot work here, so none is attempted.
'use strict';
const fs = require('node:fs');
const { execSync } = require('node:child_process');

const CHROMIUM = '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  let apt;
  try {
    execSync('command -v apt-get', { stdio: 'ignore', shell: '/bin/sh' });
    apt = true;
  } catch {
    apt = false;
  }
  if (root && apt) {
    console.log('installing Debian chromium for the editor test (apt-get install -y chromium)');
    execSync('apt-get update && apt-get install -y chromium', { stdio: 'inherit', shell: '/bin/sh' });
  } else {
    console.error(`${CHROMIUM} is missing: install Debian's chromium (sudo apt-get install -y chromium) for the editor test`);
    process.exit(1);
  }
}
