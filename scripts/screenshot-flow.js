#!/usr/bin/env node
// Refreshes docs/default-flow.png (the README's picture): a throw-away Node-RED with the
// default flow, the editor opened in Debian's Chromium (headless), one screenshot.
'use strict';
/* global RED */ // the editor's, inside page.evaluate
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { spawn } = require('node:child_process');
const { chromium } = require('playwright-core');
const { statusCrossings } = require('./flow-layout-check');

const root = path.resolve(__dirname, '..');
const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });

async function main() {
  const [httpPort, tcpPort] = [await freePort(), await freePort()];
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carnitrack-shot-'));
  const red = spawn(process.execPath, [require.resolve('node-red/red.js'), '--settings', path.join(root, 'dist', 'settings.js')], {
    env: { ...process.env, HTTP_PORT: String(httpPort), TCP_PORT: String(tcpPort), NODE_RED_USER_DIR: userDir, CLOUD_WS_URL: 'ws://127.0.0.1:9/edge' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  red.stdout.on('data', (d) => (out += d));
  const until = Date.now() + 60000;
  while (!/listening for DP-401/.test(out)) {
    if (Date.now() > until) throw new Error('Node-RED did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1900, height: 920 } });
    await page.goto(`http://127.0.0.1:${httpPort}/`);
    await page.waitForSelector('.red-ui-flow-node-group', { timeout: 30000 });
    await page.evaluate(() => {
      RED.menu.setSelected('menu-item-sidebar', false);
      RED.menu.setSelected('menu-item-palette', false);
    });
    await page.waitForTimeout(1500);
    const file = path.join(root, 'docs', 'default-flow.png');
    await page.locator('#red-ui-workspace-chart').screenshot({ path: file });
    console.log(`wrote ${path.relative(root, file)}`);
    // The layout's one rule: no wire through a status (scripts/make-default-flow.py lays it out).
    const crossings = [...(await statusCrossings(page)), ...(await statusCrossings(page, { longest: true }))];
    for (const c of crossings) console.log(`wire ${c.wire} crosses the status of ${c.status} ("${c.text}")`);
    if (process.env.LONGEST_SHOT) await page.locator('#red-ui-workspace-chart').screenshot({ path: process.env.LONGEST_SHOT });
    if (crossings.length) process.exitCode = 1;
  } finally {
    await browser.close();
    const exited = new Promise((resolve) => red.once('exit', resolve));
    red.kill('SIGTERM');
    await exited; // Node-RED may still write into its user directory until it is gone
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
