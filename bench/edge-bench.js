#!/usr/bin/env node
// `npm run bench`: throughput, latency and memory of a real Node-RED process running the
// default flow (not the test helper, which wraps every node method in a spy).
//
// Phase 1 (closed loop): S scales weigh back to back for D seconds with the reference Cloud up;
//   each scale sends its next line when OK comes back (OK = committed with synchronous=FULL).
//   Reports stored/s (OKs) and delivered/s (events arriving at the Cloud in the same window).
// Phase 2 (open loop): R weighings a second spread over the scales, sent on a timer whatever
//   the OKs do; reports the latency from the scale's write to the event arriving at the Cloud.
// Phase 3 (backlog): the Cloud is stopped, B weighings are captured (RSS before and after), the
//   Cloud comes back, and the time until every event has arrived there is measured.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { parseArgs } = require('node:util');
const { ReferenceCloud } = require('../dist/sim/reference-cloud');
const { formatWeighingLine } = require('../dist/sim/scale-simulator');
const { encodeText } = require('../dist/lib/dp401/weighing-line');

const { values: a } = parseArgs({
  options: {
    scales: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '15' },
    rate: { type: 'string', default: '5000' },
    'open-seconds': { type: 'string', default: '10' },
    backlog: { type: 'string', default: '100000' },
    json: { type: 'string' },
  },
});
const SCALES = Number(a.scales);
const SECONDS = Number(a.seconds);
const BACKLOG = Number(a.backlog);
const RATE = Number(a.rate);
const OPEN_SECONDS = Number(a['open-seconds']);
const root = path.resolve(__dirname, '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
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
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let sentAt = 0;
    let n = 0;
    let tail = '';
    const send = () => {
      if (Date.now() >= until()) {
        s.end();
        return;
      }
      n++;
      const line = formatWeighingLine({
        plu: '00001',
        when: new Date(),
        name: 'KIYMA',
        barcode: '2000001000008',
        operator: 'AYŞE',
        grossRaw: 10000 + n + 100,
        tareRaw: 100,
        netRaw: 10000 + n,
      });
      sentAt = process.hrtime.bigint();
      s.write(encodeText(line + '\r\n', 'windows-1254'));
    };
    s.on('connect', () => {
      s.write(id);
      send();
    });
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

const log = (...m) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...m);
// DP-401 ids are SCALE- and two digits: SCALE-00 to SCALE-99.
const id = (i) => `SCALE-${String(i % 100).padStart(2, '0')}`;

/** Records when each event reaches the Cloud, keyed as the bench keys what it sends. */
function watchArrivals(cloud, arrivals) {
  const set = cloud.events.set.bind(cloud.events);
  cloud.events.set = (k, v) => {
    arrivals.set(`${v.payload.deviceId}:${v.payload.weightGrams}`, process.hrtime.bigint());
    return set(k, v);
  };
}

/** Open loop: `rate` weighings a second over `n` scales for `seconds`, without waiting for OK. */
async function openLoop(port, n, rate, seconds, sentAt) {
  const sockets = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port }, () => {
            s.write(id(i));
            resolve(s);
          });
          s.on('error', reject);
          s.on('data', () => undefined);
        }),
    ),
  );
  await sleep(300);
  const perTick = rate / 100; // a tick every 10 ms
  let sent = 0;
  let carry = 0;
  const t0 = Date.now();
  let net0 = 500000;
  while (Date.now() - t0 < seconds * 1000) {
    carry += perTick;
    for (; carry >= 1; carry--) {
      const i = sent % n;
      const netRaw = net0++;
      const line = formatWeighingLine({
        plu: '00002',
        when: new Date(),
        name: 'BONFILE',
        barcode: '2000002000007',
        operator: 'AYŞE',
        grossRaw: netRaw + 100,
        tareRaw: 100,
        netRaw,
      });
      sentAt.set(`${id(i)}:${netRaw}`, process.hrtime.bigint());
      sockets[i].write(encodeText(line + '\r\n', 'windows-1254'));
      sent++;
    }
    const next = t0 + (sent / rate) * 1000;
    await sleep(Math.max(0, next - Date.now()));
  }
  return { sockets, sent, seconds: (Date.now() - t0) / 1000 };
}

async function main() {
  const [httpPort, tcpPort, cloudPort] = [await freePort(), await freePort(), await freePort()];
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carnitrack-bench-'));
  const arrivals = new Map();
  let cloud = new ReferenceCloud({ port: cloudPort, apiKeys: ['bench'], path: '/edge' });
  watchArrivals(cloud, arrivals);
  await cloud.start();
  const red = (redProcess = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_NODE_ARGS || '').split(' ').filter(Boolean),
      require.resolve('node-red/red.js'),
      '--settings',
      path.join(root, 'dist', 'settings.js'),
    ],
    {
      env: {
        ...process.env,
        NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS || '',
        HTTP_PORT: String(httpPort),
        TCP_PORT: String(tcpPort),
        NODE_RED_USER_DIR: userDir,
        EDGE_SITE_ID: 'BENCH',
        CLOUD_WS_URL: cloud.url,
        CLOUD_API_KEY: 'bench',
        LOG_LEVEL: 'warn',
        DP401_MAX_CONNECTIONS: String(Math.max(32, SCALES + 10)),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  ));
  let out = '';
  red.stdout.on('data', (d) => {
    out += d;
    if (process.env.BENCH_ECHO) process.stderr.write(d); // Node-RED's own log lines, for profiling runs
  });
  const started = Date.now();
  while (cloud.connections === 0) {
    if (Date.now() - started > 60000) throw new Error(`Node-RED did not connect:\n${out}`);
    await sleep(100);
  }
  await sleep(1000);
  const idle = rssMiB(red.pid);

  log('Node-RED up and linked; closed loop');
  // Phase 1: closed loop.
  const lat = [];
  const counter = { ok: 0 };
  const atCloud0 = cloud.events.size;
  const t0 = Date.now();
  const stopAt = t0 + SECONDS * 1000;
  await Promise.all(Array.from({ length: SCALES }, (_, i) => scale(tcpPort, id(i), () => stopAt, lat, counter)));
  const elapsed = (Date.now() - t0) / 1000;
  const deliveredInWindow = cloud.events.size - atCloud0;
  const drainStart = Date.now();
  while (cloud.events.size - atCloud0 < counter.ok && Date.now() - drainStart < 120000) await sleep(20);
  const closed = {
    scales: SCALES,
    seconds: elapsed,
    stored: counter.ok,
    storedPerSecond: counter.ok / elapsed,
    deliveredPerSecond: deliveredInWindow / elapsed,
    cloudCatchUpS: (Date.now() - drainStart) / 1000,
  };
  lat.sort((x, y) => x - y);
  const okLatency = { p50: pct(lat, 50), p95: pct(lat, 95), p99: pct(lat, 99), max: lat[lat.length - 1] };
  const afterClosed = rssMiB(red.pid);

  log('open loop');
  // Phase 2: open loop.
  const sentAt = new Map();
  const open = await openLoop(tcpPort, SCALES, RATE, OPEN_SECONDS, sentAt);
  const waitStart = Date.now();
  const arrivedAll = () => [...sentAt.keys()].every((k) => arrivals.has(k));
  while (!arrivedAll() && Date.now() - waitStart < 60000) await sleep(50);
  for (const s of open.sockets) s.destroy();
  const cloudLat = [...sentAt]
    .filter(([k]) => arrivals.has(k))
    .map(([k, t]) => Number(arrivals.get(k) - t) / 1e6)
    .sort((x, y) => x - y);
  const openLoopResult = {
    rate: RATE,
    sent: open.sent,
    sentPerSecond: open.sent / open.seconds,
    arrived: cloudLat.length,
    cloudLatencyMs: { p50: pct(cloudLat, 50), p99: pct(cloudLat, 99), max: cloudLat[cloudLat.length - 1] },
  };

  log('offline backlog');
  // Phase 3: offline backlog.
  await cloud.stop();
  await sleep(1000);
  const beforeCapture = rssMiB(red.pid);
  const before = counter.ok;
  const perScale = Math.ceil(BACKLOG / SCALES);
  const counts = new Array(SCALES).fill(0);
  const tCapture = Date.now();
  await Promise.all(Array.from({ length: SCALES }, (_, i) => scale(tcpPort, id(i), () => (counts[i]++ < perScale ? Infinity : 0), [], counter)));
  const captured = counter.ok - before;
  const captureS = (Date.now() - tCapture) / 1000;
  await sleep(2000);
  const afterCapture = rssMiB(red.pid);
  const backlogAtCloud0 = cloud.events.size;
  const events = cloud.events;
  log(`captured ${captured}; Cloud back`);
  cloud = new ReferenceCloud({ port: cloudPort, apiKeys: ['bench'], path: '/edge' });
  const tBack = Date.now();
  await cloud.start();
  while (cloud.connections === 0 && Date.now() - tBack < 120000) await sleep(20);
  const reconnectS = (Date.now() - tBack) / 1000;
  while (cloud.events.size < captured && Date.now() - tBack < 600000) await sleep(50);
  const drainS = (Date.now() - tBack) / 1000;
  const backlog = {
    captured,
    capturePerSecond: captured / captureS,
    reconnectS,
    delivered: cloud.events.size,
    drainSecondsAfterCloudBack: drainS,
    rssGrowthMiB: afterCapture.rss - beforeCapture.rss,
    rssGrowthPer100kMiB: ((afterCapture.rss - beforeCapture.rss) / captured) * 100000,
  };
  void backlogAtCloud0;
  void events;
  const end = rssMiB(red.pid);

  red.kill('SIGTERM');
  await new Promise((r) => red.once('exit', r));
  await cloud.stop();
  fs.rmSync(userDir, { recursive: true, force: true });

  const result = {
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0].model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    closedLoop: closed,
    okLatencyMs: okLatency,
    openLoop: openLoopResult,
    backlog,
    nodeRedRssMiB: {
      idle: idle.rss,
      afterClosedLoop: afterClosed.rss,
      beforeBacklog: beforeCapture.rss,
      afterBacklog: afterCapture.rss,
      end: end.rss,
      peak: end.peak,
    },
  };
  const f = (n) => (typeof n === 'number' ? Math.round(n * 10) / 10 : n);
  console.log(
    `closed loop: ${SCALES} scales, ${closed.stored} weighings in ${f(elapsed)} s: stored ${f(closed.storedPerSecond)}/s, delivered ${f(closed.deliveredPerSecond)}/s (Cloud caught up ${f(closed.cloudCatchUpS)} s after)`,
  );
  console.log(`weigh -> OK latency ms: p50 ${f(okLatency.p50)}, p95 ${f(okLatency.p95)}, p99 ${f(okLatency.p99)}, max ${f(okLatency.max)}`);
  console.log(
    `open loop: ${f(openLoopResult.sentPerSecond)}/s for ${OPEN_SECONDS} s, ${openLoopResult.arrived}/${open.sent} at the Cloud; weigh -> Cloud latency ms p50 ${f(openLoopResult.cloudLatencyMs.p50)}, p99 ${f(openLoopResult.cloudLatencyMs.p99)}, max ${f(openLoopResult.cloudLatencyMs.max)}`,
  );
  console.log(
    `backlog: ${captured} captured at ${f(backlog.capturePerSecond)}/s with the Cloud down; Cloud back: link up after ${f(reconnectS)} s, all ${backlog.delivered} delivered ${f(drainS)} s after it came back`,
  );
  console.log(
    `Node-RED RSS MiB: idle ${f(idle.rss)}, after closed loop ${f(afterClosed.rss)}, backlog ${f(beforeCapture.rss)} -> ${f(afterCapture.rss)} (${f(backlog.rssGrowthPer100kMiB)} MiB per 100k queued), end ${f(end.rss)}, peak ${f(end.peak)}`,
  );
  if (a.json) fs.writeFileSync(a.json, JSON.stringify(result, null, 2) + '\n');
}

let redProcess = null;
main().catch((err) => {
  console.error(err);
  if (redProcess) redProcess.kill('SIGKILL'); // never leave a Node-RED behind
  process.exit(1);
});
