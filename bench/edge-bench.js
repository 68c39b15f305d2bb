#!/usr/bin/env node
// `npm run bench`: throughput, latency and memory of a real Node-RED process running the
// default flow (not the test helper, which wraps every node method in a spy).
//
// Phase 1 (online): S scales weigh back to back for D seconds with the reference Cloud up;
//   each scale sends its next line when OK comes back (OK = committed with synchronous=FULL).
// Phase 2 (offline backlog): the Cloud is stopped, B weighings are captured, the Cloud comes
//   back, and the time until every event is acknowledged is measured.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { parseArgs } = require('node:util');
const { ReferenceCloud } = require('../dist/lib/cloud-sim/reference-cloud');
const { formatWeighingLine } = require('../dist/sim/scale-simulator');
const { encodeText } = require('../dist/lib/dp401/weighing-line');

const { values: a } = parseArgs({
  options: {
    scales: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '20' },
    backlog: { type: 'string', default: '20000' },
    json: { type: 'string' },
  },
});
const SCALES = Number(a.scales);
const SECONDS = Number(a.seconds);
const BACKLOG = Number(a.backlog);
const root = path.resolve(__dirname, '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const rssMiB = (pid) => {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)[1]) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
};
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** A scale that sends its next weighing as soon as the gateway says OK. */
function scale(port, id, until, latencies, counter) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let sentAt = 0;
    let n = 0;
    let tail = '';
    const send = () => {
      if (Date.now() >= until()) { s.end(); return; }
      n++;
      const line = formatWeighingLine({ plu: '00001', when: new Date(), name: 'KIYMA', barcode: '2000001000008', operator: 'AYŞE', grossRaw: 10000 + n + 100, tareRaw: 100, netRaw: 10000 + n });
      sentAt = process.hrtime.bigint();
      s.write(encodeText(line + '\r\n', 'windows-1254'));
    };
    s.on('connect', () => { s.write(id); send(); });
    s.on('data', (d) => {
      const parts = (tail + d.toString('latin1')).split('OK\n');
      tail = parts.pop();
      for (let i = 0; i < parts.length; i++) {
        latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
        counter.ok++;
        send();
      }
    });
    s.on('close', resolve);
    s.on('error', reject);
  });
}

async function main() {
  const [httpPort, tcpPort, cloudPort] = [await freePort(), await freePort(), await freePort()];
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carnitrack-bench-'));
  let cloud = new ReferenceCloud({ port: cloudPort, apiKeys: ['bench'], path: '/edge' });
  await cloud.start();
  const red = spawn(process.execPath, [require.resolve('node-red/red.js'), '--settings', path.join(root, 'dist', 'settings.js')], {
    env: { ...process.env, NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS || '', HTTP_PORT: String(httpPort), TCP_PORT: String(tcpPort), NODE_RED_USER_DIR: userDir, EDGE_SITE_ID: 'BENCH', CLOUD_WS_URL: cloud.url, CLOUD_API_KEY: 'bench', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  red.stdout.on('data', (d) => (out += d));
  const started = Date.now();
  while (cloud.connections === 0) {
    if (Date.now() - started > 60000) throw new Error(`Node-RED did not connect:\n${out}`);
    await sleep(100);
  }
  await sleep(1000);
  const idle = rssMiB(red.pid);

  // Phase 1: online.
  const lat = [];
  const counter = { ok: 0 };
  const t0 = Date.now();
  const stopAt = t0 + SECONDS * 1000;
  await Promise.all(Array.from({ length: SCALES }, (_, i) => scale(tcpPort, `SCALE-${String(i + 1).padStart(2, '0')}`, () => stopAt, lat, counter)));
  const elapsed = (Date.now() - t0) / 1000;
  const drainStart = Date.now();
  while (cloud.events.size < counter.ok && Date.now() - drainStart < 120000) await sleep(50);
  const online = { scales: SCALES, seconds: elapsed, weighingsAcked: counter.ok, perSecond: counter.ok / elapsed, atCloud: cloud.events.size, cloudCatchUpS: (Date.now() - drainStart) / 1000 };
  lat.sort((x, y) => x - y);
  const latency = { p50: pct(lat, 50), p95: pct(lat, 95), p99: pct(lat, 99), max: lat[lat.length - 1] };
  const afterOnline = rssMiB(red.pid);

  // Phase 2: offline backlog.
  await cloud.stop();
  await sleep(500);
  const before = counter.ok;
  const perScale = Math.ceil(BACKLOG / SCALES);
  const counts = new Array(SCALES).fill(0);
  const tCapture = Date.now();
  await Promise.all(Array.from({ length: SCALES }, (_, i) => scale(tcpPort, `SCALE-${String(i + 1).padStart(2, '0')}`, () => (counts[i]++ < perScale ? Infinity : 0), [], counter)));
  const captured = counter.ok - before;
  const captureS = (Date.now() - tCapture) / 1000;
  const afterCapture = rssMiB(red.pid);
  cloud = new ReferenceCloud({ port: cloudPort, apiKeys: ['bench'], path: '/edge' });
  await cloud.start();
  const tSync = Date.now();
  while (cloud.events.size < captured && Date.now() - tSync < 600000) await sleep(100);
  const syncS = (Date.now() - tSync) / 1000;
  const backlog = { captured, capturePerSecond: captured / captureS, syncedAfterReconnect: cloud.events.size, syncSeconds: syncS, syncPerSecond: cloud.events.size / syncS };
  const end = rssMiB(red.pid);

  red.kill('SIGTERM');
  await new Promise((r) => red.once('exit', r));
  await cloud.stop();
  fs.rmSync(userDir, { recursive: true, force: true });

  const result = {
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0].model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    online,
    okLatencyMs: latency,
    backlog,
    nodeRedRssMiB: { idle: idle.rss, afterOnline: afterOnline.rss, afterOfflineCapture: afterCapture.rss, end: end.rss, peak: end.peak },
  };
  const f = (n) => (typeof n === 'number' ? Math.round(n * 10) / 10 : n);
  console.log(`online: ${SCALES} scales, ${online.weighingsAcked} weighings in ${f(elapsed)} s = ${f(online.perSecond)}/s committed and OK'd; ${online.atCloud} at the Cloud (caught up ${f(online.cloudCatchUpS)} s after)`);
  console.log(`weigh -> OK latency ms: p50 ${f(latency.p50)}, p95 ${f(latency.p95)}, p99 ${f(latency.p99)}, max ${f(latency.max)}`);
  console.log(`offline: ${captured} captured at ${f(backlog.capturePerSecond)}/s; after reconnect ${backlog.syncedAfterReconnect} synced in ${f(syncS)} s = ${f(backlog.syncPerSecond)}/s`);
  console.log(`Node-RED RSS MiB: idle ${f(idle.rss)}, after online ${f(afterOnline.rss)}, after offline capture ${f(afterCapture.rss)}, end ${f(end.rss)}, peak ${f(end.peak)}`);
  if (a.json) fs.writeFileSync(a.json, JSON.stringify(result, null, 2) + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
