#!/usr/bin/env node
// `npm run demo`: everything `npm start` runs, plus the reference Cloud and three simulated
// scales, so live weights show in the editor's debug sidebar and the Cloud acknowledges them.
'use strict';
const path = require('node:path');
const { spawn } = require('node:child_process');
const { ReferenceCloud } = require('../dist/sim/reference-cloud');
const { ScaleSimulator } = require('../dist/sim/scale-simulator');

const root = path.resolve(__dirname, '..');
const httpPort = process.env.HTTP_PORT || '1880';
const tcpPort = Number(process.env.TCP_PORT || 3001);
const cloudPort = Number(process.env.DEMO_CLOUD_PORT || 8080);
const apiKey = 'demo-key';
const scales = ['SCALE-01', 'SCALE-02', 'SCALE-03'];

async function main() {
  const cloud = new ReferenceCloud({ port: cloudPort, apiKeys: [apiKey], path: '/edge' });
  await cloud.start();
  scales.forEach((deviceId, i) =>
    cloud.startSession({
      deviceId,
      animalId: `animal-${i + 1}`,
      animalTag: `A-${101 + i}`,
      animalSpecies: ['Dana', 'Kuzu', 'Dana'][i],
      operatorId: `operator-${i + 1}`,
    }),
  );
  console.log(`reference Cloud on ${cloud.url}, sessions started on ${scales.join(', ')}`);

  const env = {
    ...process.env,
    HTTP_PORT: httpPort,
    TCP_PORT: String(tcpPort),
    NODE_RED_USER_DIR: process.env.NODE_RED_USER_DIR || 'data/demo',
    EDGE_SITE_ID: process.env.EDGE_SITE_ID || 'demo-site',
    EDGE_SITE_NAME: process.env.EDGE_SITE_NAME || 'Demo plant',
    CLOUD_WS_URL: cloud.url,
    CLOUD_API_KEY: apiKey,
  };
  const red = spawn(process.execPath, [require.resolve('node-red/red.js'), '--settings', path.join(root, 'dist', 'settings.js')], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const sims = [];
  const startTimers = [];
  let started = false;
  red.stdout.on('data', (d) => {
    process.stdout.write(d);
    if (!started && /listening for DP-401 scales/.test(String(d))) {
      started = true;
      // Each scale its own pace and its own start, as on a real line (not in lockstep).
      scales.forEach((deviceId, i) => {
        const sim = new ScaleSimulator({ host: '127.0.0.1', port: tcpPort, deviceId, rate: [0.5, 0.35, 0.7][i % 3], heartbeatMs: 30_000 });
        sim.on('error', (err) => console.error(`[demo] ${deviceId}: ${err.message}`));
        sims.push(sim);
        startTimers.push(setTimeout(() => sim.start(), Math.floor(Math.random() * 2000)));
      });
      console.log(`\nthree simulated scales are weighing: open http://127.0.0.1:${httpPort}/ and the debug sidebar ("live weights")\n`);
    }
  });
  let last = -1;
  const timer = setInterval(() => {
    if (cloud.events.size !== last) {
      last = cloud.events.size;
      console.log(`[demo] ${cloud.events.size} event(s) acknowledged by the Cloud`);
    }
  }, 5000);
  const stop = async () => {
    clearInterval(timer);
    for (const t of startTimers) clearTimeout(t);
    await Promise.all(sims.map((s) => s.stop()));
    // Ctrl-C in a terminal signals Node-RED too: it may have exited already.
    if (red.exitCode === null && red.signalCode === null) {
      red.kill('SIGTERM');
      await new Promise((r) => red.once('exit', r));
    }
    await cloud.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  red.on('exit', (code) => {
    if (!started) {
      console.error(`Node-RED exited (${code}) before the scales could start`);
      process.exit(1);
    }
  });
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
