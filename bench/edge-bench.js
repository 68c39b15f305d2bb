#!/usr/bin/env node
// `npm run bench`: throughput, latency and memory of a real Node-RED process running the
// default flow (not the test helper, which wraps every node method in a spy).
//
// Phase idle: 20 scales connected and registered send `HB` every 30 s for --idle-seconds (60)
//   and nothing else (counted from 5 s after they connected, once start-up has settled);
//   reports the bytes Node-RED caused to be written to storage (`write_bytes` in
//   /proc/<pid>/io: database, WAL, checkpoints, logs, everything) per minute.
// Phase plant: 20 scales weighing 2 a second in all (each every 10 s), heartbeats every 30 s,
//   for --plant-seconds (60); bytes written per weighing, weigh -> Cloud latency.
// Phase steady: 1,000 weighings a second from S scales for --steady-seconds (30); bytes written
//   per weighing, weigh -> Cloud p50/p99.
// Phase sweep (open loop): S scales offered each rate of --sweep (2000,...,10000 a second) for
//   --open-seconds, whatever the OKs do; at each step weigh -> Cloud p50/p99 and how many
//   arrived. Reports the highest rate at which every weighing arrived with p99 < 50 ms.
// Bytes are counted from the first weighing (or heartbeat) to 12 s after the last one reached
//   the Cloud, so the acks' bookkeeping and the checkpoints that follow are counted too.
// Phase 1 (closed loop): S scales weigh back to back for D seconds with the reference Cloud up;
//   each scale sends its next line when OK comes back (OK = committed with synchronous=FULL).
//   Reports stored/s (OKs) and delivered/s (events arriving at the Cloud in the same window).
// Phase 3 (backlog): the Cloud is stopped, B weighings are captured (RSS before and after), the
//   Cloud comes back, and the time until every event has arrived there is measured.
// Phase 4 (overload): S scales offer 4x the closed loop's rate (or --overload-rate) for
//   --overload-seconds, whatever the OKs do. The driver writes while socket.write() returns
//   true and otherwise waits for 'drain' (so it never buffers more than a socket's worth), and
//   counts what it offered. Reports Node-RED's RSS at start, peak (VmRSS sampled every 250 ms)
//   and end, and weighings offered, OK'd, stored (read from the database) and at the Cloud; a
//   weighing OK'd but not stored is reported (there must be none).
// Phase 5 (flood): --flood-clients clients connect and close as fast as they can for
//   --flood-seconds while one real scale weighs stop-and-wait; reports connections made, RSS
//   start/peak/end and the scale's OKs per second during the flood.
//
// Options: --scales N (100), --seconds D (closed loop, 15), --idle-seconds (60), --plant-seconds
//   (60), --steady-seconds (30), --sweep R1,R2,... (2000,4000,6000,8000,10000), --open-seconds
//   (10 per sweep step), --backlog B (100000), --overload-rate (4x the closed loop's stored/s,
//   40000 when the closed loop is not run), --overload-seconds (60), --flood-clients (40),
//   --flood-seconds (40), --only idle,plant,steady,sweep,closed,backlog,overload,flood (default:
//   all of them, in that order), --json FILE (the figures as JSON), --keep (keep Node-RED's user
//   directory and database for a look afterwards).
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

const ALL_PHASES = ['idle', 'plant', 'steady', 'sweep', 'closed', 'backlog', 'overload', 'flood'];
const { values: a } = parseArgs({
  options: {
    scales: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '15' },
    'idle-seconds': { type: 'string', default: '60' },
    'plant-seconds': { type: 'string', default: '60' },
    'steady-seconds': { type: 'string', default: '30' },
    sweep: { type: 'string', default: '2000,4000,6000,8000,10000' },
    'open-seconds': { type: 'string', default: '10' },
    backlog: { type: 'string', default: '100000' },
    'overload-rate': { type: 'string' },
    'overload-seconds': { type: 'string', default: '60' },
    'flood-clients': { type: 'string', default: '40' },
    'flood-seconds': { type: 'string', default: '40' },
    only: { type: 'string', default: ALL_PHASES.join(',') },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const SCALES = Number(a.scales);
const SECONDS = Number(a.seconds);
const BACKLOG = Number(a.backlog);
const SWEEP = a.sweep.split(',').map(Number);
const OPEN_SECONDS = Number(a['open-seconds']);
const OVERLOAD_SECONDS = Number(a['overload-seconds']);
const FLOOD_CLIENTS = Number(a['flood-clients']);
const FLOOD_SECONDS = Number(a['flood-seconds']);
const PHASES = new Set(a.only.split(',').map((p) => p.trim()));
for (const p of PHASES) if (!ALL_PHASES.includes(p)) throw new Error(`--only: unknown phase "${p}"`);
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

/**
 * Every scale weighs in a disassembly session, as in a plant: without one each weighing goes to
 * an offline batch, which costs one more index page (the batch index) per weighing.
 */
function startSessions(cloud) {
  for (let i = 0; i < 100; i++)
    cloud.startSession({ deviceId: id(i), animalId: `A-${i}`, animalTag: `TR-${1000 + i}`, animalSpecies: 'cattle', operatorId: 'OP-1' });
}

/** Records when each event reaches the Cloud, keyed as the bench keys what it sends. */
function watchArrivals(cloud, arrivals) {
  const set = cloud.events.set.bind(cloud.events);
  cloud.events.set = (k, v) => {
    arrivals.set(`${v.payload.deviceId}:${v.payload.weightGrams}`, process.hrtime.bigint());
    return set(k, v);
  };
}

/** Bytes the process caused to be written to storage so far (`write_bytes` in /proc/<pid>/io). */
const writeBytes = (pid) => Number(/write_bytes:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);

/**
 * Open loop: `rate` weighings a second over `n` scales (ids from `first`) for `seconds`, sent on
 * a timer without waiting for OK; each scale's weights are unique from `net0` grams on (a few
 * kilograms, under the scales' capacity, as in a plant) and each send time is put
 * in `sentAt`. With `heartbeatMs` each scale also sends `HB` that often (staggered). Rate 0:
 * heartbeats only.
 */
async function openLoop(port, { n, rate, seconds, sentAt = new Map(), net0 = 10000, heartbeatMs = 0, first = 0, onConnected }) {
  const sockets = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => {
            s.write(id(first + i));
            resolve(s);
          });
          s.on('error', reject);
          s.on('data', () => undefined);
        }),
    ),
  );
  await sleep(300);
  if (onConnected) await onConnected();
  const timers = heartbeatMs
    ? sockets.map((s, i) => {
        const t = { interval: null };
        t.first = setTimeout(
          () => {
            s.write('HB');
            t.interval = setInterval(() => s.write('HB'), heartbeatMs);
          },
          (heartbeatMs * i) / n,
        );
        return t;
      })
    : [];
  // What the rate owes by now, sent every millisecond: weighings arrive spread out, as from
  // scales that each weigh at their own moment (10 ms ticks sent them in bursts of 10 at 1,000/s).
  let sent = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    const owed = Math.floor(((Date.now() - t0) / 1000) * rate) - sent;
    for (let k = 0; k < owed; k++) {
      const i = sent % n;
      const netRaw = net0 + Math.floor(sent / n);
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
      sentAt.set(`${id(first + i)}:${netRaw}`, process.hrtime.bigint());
      sockets[i].write(encodeText(line + '\r\n', 'windows-1254'));
      sent++;
    }
    await sleep(rate > 0 ? 1 : 100);
  }
  for (const t of timers) {
    clearTimeout(t.first);
    clearInterval(t.interval);
  }
  return { sockets, sent, seconds: (Date.now() - t0) / 1000, sentAt };
}

/**
 * What `write_bytes` counts for one fsynced WAL frame on this disk (4,096 bytes and a 24-byte
 * header, appended and fsynced 200 times, as one commit per weighing does at plant rate): the
 * floor of a weighing that gets its own commit.
 */
function frameFloor(dir) {
  const file = path.join(dir, 'frame-floor');
  const fd = fs.openSync(file, 'w');
  const frame = Buffer.alloc(4120, 1);
  const before = writeBytes(process.pid);
  const ms = [];
  for (let k = 0; k < 200; k++) {
    fs.writeSync(fd, frame, 0, frame.length, 32 + k * frame.length);
    const t = process.hrtime.bigint();
    fs.fsyncSync(fd);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const perFrame = (writeBytes(process.pid) - before) / 200;
  fs.closeSync(fd);
  fs.rmSync(file);
  // How long the disk takes to make a frame durable: every OK waits for one such fsync, so the
  // weigh -> Cloud tail cannot be shorter than this one's.
  ms.sort((x, y) => x - y);
  return { perFrame, fsyncMs: { p50: pct(ms, 50), p99: pct(ms, 99), max: ms[ms.length - 1] } };
}

/** Waits (at most `maxMs`) until every weighing in `sentAt` reached the Cloud; returns the latencies, sorted, in ms. */
async function cloudLatencies(sentAt, arrivals, maxMs = 60000) {
  const waitStart = Date.now();
  const keys = [...sentAt.keys()];
  let missing = keys;
  while (missing.length && Date.now() - waitStart < maxMs) {
    await sleep(50);
    missing = missing.filter((k) => !arrivals.has(k));
  }
  return keys
    .filter((k) => arrivals.has(k))
    .map((k) => Number(arrivals.get(k) - sentAt.get(k)) / 1e6)
    .sort((x, y) => x - y);
}

/** Bytes written while `n` scales weigh `rate`/s for `seconds` (see the header), with latencies to the Cloud. */
async function bytesPerWeighing(port, pid, arrivals, { n, rate, seconds, net0, heartbeatMs }) {
  let bytes0 = 0;
  const run = await openLoop(port, { n, rate, seconds, net0, heartbeatMs, onConnected: () => (bytes0 = writeBytes(pid)) });
  const lat = await cloudLatencies(run.sentAt, arrivals);
  await sleep(12000);
  const bytes = writeBytes(pid) - bytes0;
  for (const s of run.sockets) s.destroy();
  return {
    scales: n,
    rate,
    seconds: run.seconds,
    sent: run.sent,
    arrived: lat.length,
    bytesWritten: bytes,
    bytesPerWeighing: bytes / Math.max(1, run.sent),
    cloudLatencyMs: { p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1] },
  };
}

/**
 * Samples a process's VmRSS every 250 ms; `stop()` gives start, peak (of the samples) and end in
 * MiB. With Node-RED's HTTP port it also reads the process's memory from /metrics every second
 * and gives the largest JavaScript heap (used and reserved) and external memory seen, in MiB:
 * what of the resident memory is V8's.
 */
function rssSampler(pid, httpPort) {
  const start = rssMiB(pid).rss;
  let peak = start;
  const heap = { usedMiB: 0, totalMiB: 0, externalMiB: 0, loopP99Ms: 0, loopMaxMs: 0 };
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(pid).rss);
    } catch {
      // the process is gone; stop() reports what was seen
    }
  }, 250);
  const scrape = async () => {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const mib = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0) / 1048576;
    heap.usedMiB = Math.max(heap.usedMiB, mib('nodejs_heap_size_used_bytes'));
    heap.totalMiB = Math.max(heap.totalMiB, mib('nodejs_heap_size_total_bytes'));
    heap.externalMiB = Math.max(heap.externalMiB, mib('nodejs_external_memory_bytes'));
    const ms = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0) * 1000;
    heap.loopP99Ms = Math.max(heap.loopP99Ms, ms('nodejs_eventloop_lag_p99_seconds'));
    heap.loopMaxMs = Math.max(heap.loopMaxMs, ms('nodejs_eventloop_lag_max_seconds'));
  };
  const heapTimer = httpPort ? setInterval(() => scrape().catch(() => {}), 1000) : null;
  return {
    stop() {
      clearInterval(timer);
      if (heapTimer) clearInterval(heapTimer);
      const end = rssMiB(pid).rss;
      return { start, peak: Math.max(peak, end), end, heap: httpPort ? heap : undefined };
    },
  };
}

/** The largest heap figures a sampler saw, for a report line. */
const heapText = (mem, f) =>
  mem.heap ? `; largest seen: JavaScript heap used ${f(mem.heap.usedMiB)}, reserved ${f(mem.heap.totalMiB)}, external ${f(mem.heap.externalMiB)}` : '';

const OVERLOAD_NET0 = 3_000_000;

/**
 * Overload: `n` scales offered `rate` weighings a second in all for `seconds`, whatever the OKs
 * do. A scale whose socket.write() returned false is skipped until 'drain': the driver holds at
 * most a socket's buffer per scale, never the seconds of writes the gateway does not take.
 */
async function overload(port, n, rate, seconds) {
  const scales = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise((resolve, reject) => {
          const sc = { socket: null, offered: 0, oks: 0, blocked: false, tail: '' };
          const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => {
            s.write(id(i));
            resolve(sc);
          });
          sc.socket = s;
          s.on('error', reject);
          s.on('drain', () => (sc.blocked = false));
          s.on('data', (d) => {
            const parts = (sc.tail + d.toString('latin1')).split('OK\n');
            sc.tail = parts.pop();
            sc.oks += parts.length;
          });
        }),
    ),
  );
  await sleep(300);
  const when = new Date();
  const line = (netRaw) =>
    encodeText(
      formatWeighingLine({ plu: '00003', when, name: 'ANTRIKOT', barcode: '2000003000006', operator: 'AYŞE', grossRaw: netRaw + 100, tareRaw: 100, netRaw }) +
        '\r\n',
      'windows-1254',
    );
  let offered = 0;
  let next = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    // What the rate owes by now, to the scales whose sockets take it, round robin.
    let owed = Math.floor(((Date.now() - t0) / 1000) * rate) - offered;
    let open = scales.filter((sc) => !sc.blocked).length;
    while (owed > 0 && open > 0) {
      const sc = scales[next++ % n];
      if (sc.blocked) continue;
      if (!sc.socket.write(line(OVERLOAD_NET0 + sc.offered))) {
        sc.blocked = true;
        open--;
      }
      sc.offered++;
      offered++;
      owed--;
    }
    await sleep(10);
  }
  const elapsed = (Date.now() - t0) / 1000;
  return { scales, offered, seconds: elapsed };
}

/** Flood: `clients` loops of connect-then-close until `until`; counts connections made. */
async function flood(port, clients, until) {
  const counts = { connected: 0, errors: 0 };
  const one = () =>
    new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('connect', () => {
        counts.connected++;
        s.destroy();
      });
      s.on('error', () => counts.errors++);
      s.on('close', resolve);
    });
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < until) await one();
    }),
  );
  return counts;
}

/** A stop-and-wait scale that records the second (from `t0`) each OK came in. */
function recordingScale(port, deviceId, until, t0, okSeconds) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let n = 0;
    let tail = '';
    const send = () => {
      if (Date.now() >= until) return s.end();
      n++;
      const line = formatWeighingLine({
        plu: '00004',
        when: new Date(),
        name: 'KUSBASI',
        barcode: '2000004000005',
        operator: 'AYŞE',
        grossRaw: 7_000_100 + n,
        tareRaw: 100,
        netRaw: 7_000_000 + n,
      });
      s.write(encodeText(line + '\r\n', 'windows-1254'));
    };
    s.on('connect', () => {
      s.write(deviceId);
      send();
    });
    s.on('data', (d) => {
      const parts = (tail + d.toString('latin1')).split('OK\n');
      tail = parts.pop();
      for (let i = 0; i < parts.length; i++) {
        okSeconds.push(Math.floor((Date.now() - t0) / 1000));
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
  const dbFile = path.join(userDir, 'bench.db');
  const arrivals = new Map();
  let cloud = new ReferenceCloud({ port: cloudPort, apiKeys: ['bench'], path: '/edge' });
  watchArrivals(cloud, arrivals);
  startSessions(cloud);
  await cloud.start();
  const red = (redProcess = spawn(
    process.execPath,
    [
      // Node's flags as `npm start` and the image give them (package.json config.nodeArgs),
      // unless BENCH_NODE_ARGS says otherwise (BENCH_NODE_ARGS=" " for none).
      ...(process.env.BENCH_NODE_ARGS ?? require('../package.json').config.nodeArgs).split(' ').filter(Boolean),
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
        DATABASE_PATH: dbFile,
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
  log(`Node-RED pid ${red.pid}`);
  const idle = rssMiB(red.pid);
  const result = {
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0].model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    nodeRedRssMiB: { idle: idle.rss },
  };
  const f = (n) => (typeof n === 'number' ? Math.round(n * 10) / 10 : n);
  const report = (line) => console.log(line);
  const counter = { ok: 0 };

  if (PHASES.has('idle')) {
    const seconds = Number(a['idle-seconds']);
    // Start-up writes (the sessions the Cloud sends, their checkpoint) are over first, and the
    // count starts 5 s after the scales connected: what a connect writes is not a heartbeat's.
    log(`idle: start-up settles (15 s), then 20 scales heartbeating every 30 s for ${seconds} s`);
    await sleep(15000);
    let bytes0 = 0;
    const onConnected = async () => {
      await sleep(5000);
      bytes0 = writeBytes(red.pid);
    };
    const run = await openLoop(tcpPort, { n: 20, rate: 0, seconds, heartbeatMs: 30000, first: 60, onConnected });
    const bytes = writeBytes(red.pid) - bytes0;
    for (const s of run.sockets) s.destroy();
    result.idle = { scales: 20, seconds: run.seconds, bytesWritten: bytes, bytesPerMinute: (bytes / run.seconds) * 60 };
    report(`idle: 20 scales heartbeating for ${f(run.seconds)} s: ${bytes} bytes written (${f(result.idle.bytesPerMinute)} a minute)`);
    await sleep(2000);
  }

  if (PHASES.has('plant')) {
    const seconds = Number(a['plant-seconds']);
    log(`plant rate: 20 scales, 2 weighings a second, heartbeats, ${seconds} s`);
    const p = (result.plant = await bytesPerWeighing(tcpPort, red.pid, arrivals, { n: 20, rate: 2, seconds, net0: 10000, heartbeatMs: 30000 }));
    const floor = frameFloor(userDir);
    p.floorPerFsyncedFrame = floor.perFrame;
    p.fsyncMs = floor.fsyncMs;
    report(
      `plant rate: floor here: one fsynced WAL frame (4,120 bytes) counts ${f(floor.perFrame)} bytes in write_bytes; its fsync takes p50 ${f(floor.fsyncMs.p50)} ms, p99 ${f(floor.fsyncMs.p99)} ms, max ${f(floor.fsyncMs.max)} ms on this disk`,
    );
    report(
      `plant rate: ${p.sent} weighings from 20 scales in ${f(p.seconds)} s, ${p.arrived} at the Cloud: ${f(p.bytesPerWeighing)} bytes written per weighing (${p.bytesWritten} in all); weigh -> Cloud ms p50 ${f(p.cloudLatencyMs.p50)}, p99 ${f(p.cloudLatencyMs.p99)}`,
    );
  }

  if (PHASES.has('steady')) {
    const seconds = Number(a['steady-seconds']);
    log(`1,000 weighings a second from ${SCALES} scales for ${seconds} s`);
    const sampler = rssSampler(red.pid, httpPort);
    const p = (result.steady = await bytesPerWeighing(tcpPort, red.pid, arrivals, { n: SCALES, rate: 1000, seconds, net0: 15000 }));
    const loop = sampler.stop().heap;
    p.eventLoopDelayMs = { worstSecondP99: loop.loopP99Ms, max: loop.loopMaxMs };
    report(
      `1,000/s: ${p.sent} weighings from ${SCALES} scales in ${f(p.seconds)} s, ${p.arrived} at the Cloud: ${f(p.bytesPerWeighing)} bytes written per weighing (${f(p.bytesWritten / p.seconds / 2 ** 20)} MiB/s); weigh -> Cloud ms p50 ${f(p.cloudLatencyMs.p50)}, p99 ${f(p.cloudLatencyMs.p99)}, max ${f(p.cloudLatencyMs.max)}; Node-RED's event-loop delay (10 ms sampling included) p99 of the worst second ${f(loop.loopP99Ms)} ms, max ${f(loop.loopMaxMs)} ms`,
    );
  }

  if (PHASES.has('sweep')) {
    result.sweep = [];
    let net0 = 30000;
    for (const rate of SWEEP) {
      log(`open loop at ${rate}/s for ${OPEN_SECONDS} s`);
      const run = await openLoop(tcpPort, { n: SCALES, rate, seconds: OPEN_SECONDS, net0 });
      net0 += Math.ceil(run.sent / SCALES);
      const lat = await cloudLatencies(run.sentAt, arrivals);
      for (const s of run.sockets) s.destroy();
      const o = {
        rate,
        sent: run.sent,
        sentPerSecond: run.sent / run.seconds,
        arrived: lat.length,
        cloudLatencyMs: { p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1] },
      };
      result.sweep.push(o);
      report(
        `open loop ${rate}/s: ${f(o.sentPerSecond)}/s sent for ${OPEN_SECONDS} s, ${o.arrived}/${o.sent} at the Cloud; weigh -> Cloud ms p50 ${f(o.cloudLatencyMs.p50)}, p99 ${f(o.cloudLatencyMs.p99)}, max ${f(o.cloudLatencyMs.max)}`,
      );
      await sleep(2000);
    }
    const ok = result.sweep.filter((o) => o.arrived === o.sent && o.cloudLatencyMs.p99 < 50);
    result.sweepBest = ok.length ? Math.max(...ok.map((o) => o.rate)) : null;
    report(`open loop: highest rate with every weighing at the Cloud and p99 < 50 ms: ${result.sweepBest ?? 'none'}/s`);
  }
  arrivals.clear(); // the later phases count at the Cloud by weight range

  if (PHASES.has('closed')) {
    log('Node-RED up and linked; closed loop');
    const lat = [];
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
    result.closedLoop = closed;
    result.okLatencyMs = okLatency;
    result.nodeRedRssMiB.afterClosedLoop = rssMiB(red.pid).rss;
    report(
      `closed loop: ${SCALES} scales, ${closed.stored} weighings in ${f(elapsed)} s: stored ${f(closed.storedPerSecond)}/s, delivered ${f(closed.deliveredPerSecond)}/s (Cloud caught up ${f(closed.cloudCatchUpS)} s after)`,
    );
    report(`weigh -> OK latency ms: p50 ${f(okLatency.p50)}, p95 ${f(okLatency.p95)}, p99 ${f(okLatency.p99)}, max ${f(okLatency.max)}`);
  }

  if (PHASES.has('backlog')) {
    log('offline backlog');
    await cloud.stop();
    await sleep(1000);
    const beforeCapture = rssMiB(red.pid);
    const captureMem = rssSampler(red.pid, httpPort);
    const before = counter.ok;
    const perScale = Math.ceil(BACKLOG / SCALES);
    const counts = new Array(SCALES).fill(0);
    const tCapture = Date.now();
    await Promise.all(Array.from({ length: SCALES }, (_, i) => scale(tcpPort, id(i), () => (counts[i]++ < perScale ? Infinity : 0), [], counter)));
    const captured = counter.ok - before;
    const captureS = (Date.now() - tCapture) / 1000;
    await sleep(2000);
    const afterCapture = rssMiB(red.pid);
    const capturePeak = captureMem.stop();
    const drainMem = rssSampler(red.pid, httpPort);
    const atCloudBefore = cloud.events.size;
    log(`captured ${captured}; Cloud back`);
    cloud = new ReferenceCloud({ port: cloudPort, apiKeys: ['bench'], path: '/edge' });
    startSessions(cloud);
    const tBack = Date.now();
    await cloud.start();
    while (cloud.connections === 0 && Date.now() - tBack < 120000) await sleep(20);
    const reconnectS = (Date.now() - tBack) / 1000;
    while (cloud.events.size < captured && Date.now() - tBack < 600000) await sleep(50);
    const drainS = (Date.now() - tBack) / 1000;
    const drainPeak = drainMem.stop();
    const idleRss = result.nodeRedRssMiB.idle;
    const backlog = {
      captured,
      capturePerSecond: captured / captureS,
      reconnectS,
      delivered: cloud.events.size,
      drainSecondsAfterCloudBack: drainS,
      rssGrowthMiB: afterCapture.rss - beforeCapture.rss,
      rssGrowthPer100kMiB: ((afterCapture.rss - beforeCapture.rss) / captured) * 100000,
      rssMiB: { idle: idleRss, beforeCapture: beforeCapture.rss, capturePeak: capturePeak.peak, afterCapture: afterCapture.rss, drainPeak: drainPeak.peak },
      peakAboveIdleMiB: Math.max(capturePeak.peak, drainPeak.peak) - idleRss,
    };
    void atCloudBefore;
    result.backlog = backlog;
    result.nodeRedRssMiB.beforeBacklog = beforeCapture.rss;
    result.nodeRedRssMiB.afterBacklog = afterCapture.rss;
    report(
      `backlog: ${captured} captured at ${f(backlog.capturePerSecond)}/s with the Cloud down; Cloud back: link up after ${f(reconnectS)} s, all ${backlog.delivered} delivered ${f(drainS)} s after it came back`,
    );
    report(
      `backlog: Node-RED RSS MiB idle ${f(idleRss)}, capture ${f(beforeCapture.rss)} -> ${f(afterCapture.rss)} (peak ${f(capturePeak.peak)}), drain peak ${f(drainPeak.peak)}: peak ${f(backlog.peakAboveIdleMiB)} above idle${heapText(drainPeak, f)}`,
    );
  }

  if (PHASES.has('overload')) {
    const capacity = result.closedLoop ? result.closedLoop.storedPerSecond : null;
    const rate = a['overload-rate'] ? Number(a['overload-rate']) : capacity ? Math.round(4 * capacity) : 40000;
    log(`overload: ${rate}/s offered for ${OVERLOAD_SECONDS} s`);
    await sleep(2000);
    const rss = rssSampler(red.pid, httpPort);
    const run = await overload(tcpPort, SCALES, rate, OVERLOAD_SECONDS);
    const offerEnd = rssMiB(red.pid).rss;
    // The offer is over: let the gateway take what the sockets still hold (the kernel's buffers hold
    // many seconds of it), and the OKs come back; at most a minute.
    const okd = () => run.scales.reduce((s, sc) => s + sc.oks, 0);
    const tWait = Date.now();
    let last = -1;
    let still = Date.now();
    while (okd() < run.offered && Date.now() - tWait < 60000) {
      if (okd() !== last) [last, still] = [okd(), Date.now()];
      else if (Date.now() - still > 10000) break; // no OK for 10 s: it will not come
      await sleep(200);
    }
    const mem = rss.stop();
    const oks = okd();
    const Database = require('better-sqlite3');
    const db = new Database(dbFile, { readonly: true });
    const stored = db.prepare('SELECT COUNT(*) AS n FROM events WHERE weight_grams >= ? AND weight_grams < ?').get(OVERLOAD_NET0, OVERLOAD_NET0 + 1e6).n;
    // OKs come back in the order of the lines on a socket: a scale's first `oks` lines are the OK'd ones.
    const count = db.prepare('SELECT COUNT(*) AS n FROM events WHERE device_id = ? AND weight_grams >= ? AND weight_grams < ?');
    let okdNotStored = 0;
    run.scales.forEach((sc, i) => {
      okdNotStored += sc.oks - count.get(id(i), OVERLOAD_NET0, OVERLOAD_NET0 + sc.oks).n;
    });
    db.close();
    for (const sc of run.scales) sc.socket.destroy();
    const inRange = () =>
      [...cloud.events.values()].filter((e) => e.payload.weightGrams >= OVERLOAD_NET0 && e.payload.weightGrams < OVERLOAD_NET0 + 1e6).length;
    const tCloud = Date.now();
    let atCloud = inRange();
    while (atCloud < stored && Date.now() - tCloud < 60000) {
      await sleep(1000);
      atCloud = inRange();
    }
    const o = {
      rate,
      seconds: run.seconds,
      offered: run.offered,
      offeredPerSecond: run.offered / run.seconds,
      okd: oks,
      stored,
      atCloud,
      okdNotStored,
      rssMiB: { start: mem.start, peak: mem.peak, atOfferEnd: offerEnd, end: mem.end, growth: mem.peak - mem.start },
      heapMiB: mem.heap,
    };
    result.overload = o;
    report(
      `overload: ${rate}/s asked for ${f(run.seconds)} s, ${o.offered} offered (${f(o.offeredPerSecond)}/s taken by the sockets), ${oks} OK'd, ${stored} stored, ${atCloud} at the Cloud; OK'd not stored: ${okdNotStored}${okdNotStored ? ' (WRONG)' : ''}`,
    );
    report(
      `overload: Node-RED RSS MiB start ${f(mem.start)}, peak ${f(mem.peak)} (+${f(mem.peak - mem.start)}), at the end of the offer ${f(offerEnd)}, end ${f(mem.end)}${heapText(mem, f)}`,
    );
  }

  if (PHASES.has('flood')) {
    log(`flood: ${FLOOD_CLIENTS} clients connect and close for ${FLOOD_SECONDS} s while one scale weighs`);
    await sleep(2000);
    const rss = rssSampler(red.pid);
    const okSeconds = [];
    const t0 = Date.now();
    const until = t0 + FLOOD_SECONDS * 1000;
    const [counts] = await Promise.all([flood(tcpPort, FLOOD_CLIENTS, until), recordingScale(tcpPort, 'SCALE-50', until, t0, okSeconds)]);
    const elapsed = (Date.now() - t0) / 1000;
    await sleep(2000);
    const mem = rss.stop();
    const perSecond = new Array(Math.max(1, Math.floor(elapsed))).fill(0);
    for (const s of okSeconds) if (s < perSecond.length) perSecond[s]++;
    const o = {
      clients: FLOOD_CLIENTS,
      seconds: elapsed,
      connections: counts.connected,
      connectErrors: counts.errors,
      connectionsPerSecond: counts.connected / elapsed,
      scaleOks: okSeconds.length,
      scaleOksPerSecond: { mean: okSeconds.length / elapsed, min: Math.min(...perSecond), max: Math.max(...perSecond) },
      rssMiB: { start: mem.start, peak: mem.peak, end: mem.end, growth: mem.peak - mem.start },
    };
    result.flood = o;
    report(
      `flood: ${o.connections} connections in ${f(elapsed)} s (${f(o.connectionsPerSecond)}/s, ${o.connectErrors} connect errors); the scale got ${o.scaleOks} OKs, ${f(o.scaleOksPerSecond.mean)}/s (slowest second ${o.scaleOksPerSecond.min}, fastest ${o.scaleOksPerSecond.max})`,
    );
    report(`flood: Node-RED RSS MiB start ${f(mem.start)}, peak ${f(mem.peak)} (+${f(mem.peak - mem.start)}), end ${f(mem.end)}`);
  }

  const end = rssMiB(red.pid);
  result.nodeRedRssMiB.end = end.rss;
  result.nodeRedRssMiB.peak = end.peak;
  red.kill('SIGTERM');
  await new Promise((r) => red.once('exit', r));
  await cloud.stop();
  if (a.keep) report(`kept the user directory: ${userDir}`);
  else fs.rmSync(userDir, { recursive: true, force: true });

  const r = result.nodeRedRssMiB;
  report(
    `Node-RED RSS MiB: idle ${f(r.idle)}${r.afterClosedLoop ? `, after closed loop ${f(r.afterClosedLoop)}` : ''}${r.beforeBacklog ? `, backlog ${f(r.beforeBacklog)} -> ${f(r.afterBacklog)} (${f(result.backlog.rssGrowthPer100kMiB)} MiB per 100k queued)` : ''}, end ${f(r.end)}, peak ${f(r.peak)}`,
  );
  if (a.json) fs.writeFileSync(a.json, JSON.stringify(result, null, 2) + '\n');
}

let redProcess = null;
main().catch((err) => {
  console.error(err);
  if (redProcess) redProcess.kill('SIGKILL'); // never leave a Node-RED behind
  process.exit(1);
});
