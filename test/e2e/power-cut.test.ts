import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { encodeText } from '../../lib/dp401/weighing-line';
import { formatWeighingLine, seededRandom } from '../../sim/scale-simulator';
import { freePort, sleep, waitFor } from '../helpers/node-red';
import { ReferenceCloud } from '../../sim/reference-cloud';
import { lazyFsMountable, LazyFsMount } from '../helpers/lazyfs';

/*
 * The README's promise: a power cut loses nothing a scale was told OK for. A crash (SIGKILL)
 * keeps the kernel's page cache; a power cut also drops every write not fsynced. LazyFS (see
 * test/helpers/lazyfs.ts) holds the site database's unsynced writes in its own cache and drops
 * them on `clear-cache`. Each cycle: scales weigh against the default flow in a real Node-RED,
 * then the power goes, at a random instant (the Node-RED process group SIGKILLed and LazyFS's
 * cache cleared at once) or, every other cycle, at the worst one (LazyFS dies just before the
 * next fsync of the database, its unsynced data with it, and Node-RED is SIGKILLed); the file
 * system is unmounted (what remains in root/ is the disk after the cut) and mounted again, and
 * Node-RED restarted on it. At the end every weighing that got OK must be at the Cloud.
 * (The fsync cuts are needed: an OK sent between a commit and its fsync's completion, a bug
 * this test must catch, was never caught by random-instant cuts alone in 10 cycles, because
 * an fsync LazyFS already has completes before a clear-cache arrives; it was caught in 4 of 5
 * fsync cuts.)
 * The control does the same with the site's Durability `normal` and must lose weighings: a rig
 * that cannot see a loss proves nothing.
 */

const projectRoot = path.resolve(__dirname, '..', '..', '..');
const SCALES = 4;
const CYCLES = Math.max(1, Number(process.env.POWER_CUT_CYCLES) || 30);
const CONTROL_CYCLES = Math.max(1, Number(process.env.POWER_CUT_CONTROL_CYCLES) || 5);
// LazyFS's cache, pre-allocated at every mount: far above what one mount touches, checked at
// every cut. Reads count: a start reads the WAL (up to 16 MiB before SQLite checkpoints it) and
// the pages it needs; 100 cuts took at most 7 MB in one mount.
const CACHE_SIZE = '64mb';
const MAX_CACHE_USE_PERCENT = 50;

/**
 * A DP-401 weighing stop-and-wait, as the real scale does: one line, then wait for `OK\n`. A
 * line whose connection drops before its OK is sent again, the same bytes, on the next
 * connection. Every weighing's barcode is unique (scale number + sequence), and so is its net
 * weight within the scale (the gateway's duplicate filter keys on device, PLU, net and tare).
 */
class StopAndWaitScale {
  /** Barcodes of the weighings that got OK, in order. */
  readonly okd: string[] = [];
  connects = 0;
  resends = 0;
  private seq = 0;
  private pending: { barcode: string; bytes: Buffer; sent: boolean } | null = null;
  private socket: net.Socket | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private next: NodeJS.Timeout | null = null;

  constructor(
    readonly n: number,
    private readonly port: number,
  ) {}

  get deviceId(): string {
    return `SCALE-${String(this.n).padStart(2, '0')}`;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  private connect(): void {
    this.retry = null;
    if (this.stopped) return;
    const s = net.connect({ host: '127.0.0.1', port: this.port });
    this.socket = s;
    let rx = '';
    s.setNoDelay(true);
    s.on('connect', () => {
      this.connects++;
      s.write(this.deviceId);
      this.sendPending(s);
    });
    s.on('data', (d: Buffer) => {
      rx += d.toString('latin1');
      while (rx.includes('OK\n')) {
        rx = rx.slice(rx.indexOf('OK\n') + 3);
        // Stop-and-wait: an OK on this connection answers the one line in flight.
        if (this.pending?.sent) {
          this.okd.push(this.pending.barcode);
          this.pending = null;
          if (!this.stopped) this.next = setTimeout(() => this.sendPending(s), 5);
        }
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.next) clearTimeout(this.next);
      this.next = null;
      if (this.socket === s) this.socket = null;
      if (!this.stopped) this.retry = setTimeout(() => this.connect(), 50);
    });
  }

  private sendPending(s: net.Socket): void {
    this.next = null;
    if (this.stopped || s.destroyed || this.socket !== s) return;
    if (!this.pending) {
      this.seq++;
      const barcode = `2${String(this.n)}${String(this.seq).padStart(11, '0')}`;
      const netRaw = 1000 + this.seq;
      const line = formatWeighingLine({
        plu: '00007',
        when: new Date(),
        name: 'KUZU PIRZOLA',
        barcode,
        operator: 'AYSE',
        grossRaw: netRaw + 250,
        tareRaw: 250,
        netRaw,
      });
      this.pending = { barcode, bytes: encodeText(line + '\r\n', 'windows-1254'), sent: false };
    } else if (this.pending.sent) {
      this.resends++;
    }
    this.pending.sent = true;
    s.write(this.pending.bytes);
  }

  stop(): void {
    this.stopped = true;
    for (const t of [this.retry, this.next]) if (t) clearTimeout(t);
    this.socket?.destroy();
    this.socket = null;
  }
}

/** Processes of a process group that are still running (zombies do not count: see README of LazyFS). */
function groupMembers(pgid: number): number[] {
  const live: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') live.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return live;
}

/**
 * Node-RED with the project's settings (dist/settings.js, as `npm start` runs it), in a process
 * group of its own so that the whole group can be cut at once.
 */
class EdgeProcess {
  output = '';
  exited = false;
  private constructor(readonly child: ChildProcess) {}

  static start(settingsFile: string, env: NodeJS.ProcessEnv): EdgeProcess {
    const child = spawn(process.execPath, [require.resolve('node-red/red.js'), '--settings', settingsFile], {
      cwd: projectRoot,
      env: { ...process.env, ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p = new EdgeProcess(child);
    child.stdout!.on('data', (d: Buffer) => (p.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (p.output += d.toString()));
    child.on('exit', () => (p.exited = true));
    return p;
  }

  get pgid(): number {
    return this.child.pid!;
  }

  async listening(): Promise<void> {
    await waitFor(() => /listening for DP-401 scales/.test(this.output) || this.exited, 'Node-RED and dp401-in to start', 60_000);
    if (this.exited) throw new Error(`Node-RED exited at start:\n${this.output}`);
  }

  /** The power cut, as far as processes go: the whole group at once. */
  kill(): void {
    try {
      process.kill(-this.pgid, 'SIGKILL');
    } catch {
      // gone already
    }
  }

  async gone(): Promise<void> {
    await waitFor(() => this.exited && groupMembers(this.pgid).length === 0, 'the Node-RED process group to be gone', 15_000);
  }

  /** A clean stop (SIGTERM), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (!this.exited) {
      try {
        process.kill(-this.pgid, 'SIGTERM');
      } catch {
        // gone already
      }
      try {
        await waitFor(() => this.exited, 'Node-RED to stop', 15_000);
      } catch {
        this.kill();
      }
    }
    await this.gone();
  }
}

interface Figures {
  durability: 'full' | 'normal';
  cycles: number;
  fsyncCuts: number;
  okd: number;
  resends: number;
  missingAtCloud: string[];
  missingInDb: string[];
  integrity: string;
  eventsInDb: number;
  /** Weighings stored, cut before their OK reached the scale, resent and stored again. */
  storedTwice: number;
  maxCacheUse: number;
  startMs: number[];
  /** From the SIGKILL to LazyFS mounted again. */
  cutMs: number[];
  totalMs: number;
}

/** Per cycle: the Cloud's state at the start, and whether it flips during the weighing. */
type CloudPlan = (cycle: number) => { up: boolean; flip: boolean };

class PowerCutRig {
  private dir = '';
  private mount: LazyFsMount | null = null;
  private edge: EdgeProcess | null = null;
  private cloud: ReferenceCloud | null = null;
  private scales: StopAndWaitScale[] = [];
  private readonly exitHook = (): void => this.edge?.kill();

  async run(o: {
    durability: 'full' | 'normal';
    cycles: number;
    /** Every other cut just before an fsync (else all at a random instant). */
    fsyncCuts: boolean;
    cloud: CloudPlan;
    seed: number;
    log: (s: string) => void;
  }): Promise<Figures> {
    const t0 = Date.now();
    const random = seededRandom(o.seed); // replayable with POWER_CUT_SEED
    process.on('exit', this.exitHook);
    // Short: FIFO commands naming files under it must fit LazyFS's 100-byte reads.
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctpc-'));
    const userDir = path.join(this.dir, 'user');
    fs.mkdirSync(userDir);
    const defaultFlow = JSON.parse(fs.readFileSync(path.join(projectRoot, 'flows', 'carnitrack-default.json'), 'utf8')) as Array<Record<string, unknown>>;
    const site = defaultFlow.find((n) => n.type === 'carnitrack-site')!;
    assert.equal(site.durability, 'full', 'the default flow ships with Durability full');
    site.durability = o.durability;
    fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(defaultFlow, null, 2));
    // The project's settings (as `npm start`), without the core nodes the default flow does not
    // use: they only make each of the many starts slower.
    const settingsFile = path.join(this.dir, 'settings.js');
    const unused = [
      '20-inject.js',
      '24-complete.js',
      '10-function.js',
      '16-range.js',
      '80-template.js',
      '89-delay.js',
      '89-trigger.js',
      '90-exec.js',
      'rbe.js',
    ];
    unused.push('05-tls.js', '06-httpproxy.js', '10-mqtt.js', '21-httpin.js', '21-httprequest.js', '22-websocket.js', '31-tcpin.js', '32-udp.js');
    unused.push('70-CSV.js', '70-HTML.js', '70-JSON.js', '70-XML.js', '70-YAML.js', '17-split.js', '18-sort.js', '19-batch.js', '10-file.js', '23-watch.js');
    fs.writeFileSync(
      settingsFile,
      `module.exports = { ...require(${JSON.stringify(path.join(projectRoot, 'dist', 'settings.js'))}), nodesExcludes: ${JSON.stringify(unused)} };\n`,
    );

    this.mount = await LazyFsMount.mount(this.dir, { cacheSize: CACHE_SIZE });
    const dbFile = path.join(this.mount.mnt, 'carnitrack.db');
    this.cloud = new ReferenceCloud({ apiKeys: ['power-cut-key'], path: '/edge' });
    await this.cloud.start();
    const cloud = this.cloud;
    const setCloud = (up: boolean): void => {
      // Down: refuse new links and drop the live one; everything stays in the Cloud's memory.
      cloud.faults.refuseUntil = up ? 0 : Number.MAX_SAFE_INTEGER;
      if (!up) cloud.dropConnections();
    };
    const [tcpPort, httpPort] = [await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      HTTP_PORT: String(httpPort),
      TCP_PORT: String(tcpPort),
      NODE_RED_USER_DIR: userDir,
      NODE_RED_CREDENTIAL_SECRET: 'power-cut-test',
      EDGE_SITE_ID: 'PLANT-PC',
      EDGE_SITE_NAME: 'Power cut plant',
      CLOUD_WS_URL: cloud.url,
      CLOUD_API_KEY: 'power-cut-key',
      DATABASE_PATH: dbFile,
      LOG_LEVEL: 'info',
    };
    this.scales = Array.from({ length: SCALES }, (_, i) => new StopAndWaitScale(i + 1, tcpPort));
    for (const s of this.scales) s.start();
    const okd = (): number => this.scales.reduce((n, s) => n + s.okd.length, 0);
    // In which cycle each weighing got its OK (for the failure message).
    const cycleOf = new Map<string, number>();
    const noteCycle = (c: number): void => {
      for (const s of this.scales) for (const b of s.okd) if (!cycleOf.has(b)) cycleOf.set(b, c);
    };

    const startMs: number[] = [];
    const cutMs: number[] = [];
    let maxCacheUse = 0;
    const startEdge = async (): Promise<EdgeProcess> => {
      const t = Date.now();
      const e = (this.edge = EdgeProcess.start(settingsFile, env));
      await e.listening();
      startMs.push(Date.now() - t);
      assert.match(e.output, new RegExp(`site database .* \\(durability ${o.durability}\\)`), 'the site runs with the durability under test');
      return e;
    };

    for (let c = 0; c < o.cycles; c++) {
      const plan = o.cloud(c);
      setCloud(plan.up);
      const before = okd();
      const edge = await startEdge();
      const weighMs = 300 + Math.floor(random() * 700);
      const atCloudBefore = cloud.events.size;
      // How busy this process (scales and Cloud) was: a slow test process slows the scales too.
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      if (plan.flip) {
        await sleep(weighMs / 2);
        setCloud(!plan.up);
        await sleep(weighMs / 2);
      } else {
        await sleep(weighMs);
      }
      lag.disable();
      maxCacheUse = Math.max(maxCacheUse, await this.mount.cacheUsage());
      const cutAt = Date.now();
      const fsyncCut = o.fsyncCuts && c % 2 === 1;
      if (!fsyncCut) {
        // The cut at a random instant: the processes die and, at once, everything not fsynced
        // is gone. (An fsync LazyFS already has still completes, as the disk's would not.)
        edge.kill();
        await this.mount.clearCache();
      } else {
        // The cut at the worst instant: the disk vanishes just before it gets the next fsync
        // of the database or its WAL (LazyFS kills itself, its unsynced data with it), so an OK
        // sent before that fsync completes would be for a weighing the disk never got.
        await this.mount.crashOn('before', 'fsync', 'carnitrack.db');
        await waitFor(() => !this.mount!.alive, 'LazyFS to die at the next fsync', 15_000);
        edge.kill();
      }
      await edge.gone();
      await this.mount.unmount();
      await this.mount.remount();
      cutMs.push(Date.now() - cutAt);
      noteCycle(c + 1);
      o.log(
        `cycle ${c + 1}/${o.cycles}: Node-RED up in ${startMs[startMs.length - 1]} ms, ${okd() - before} weighings OK'd in ${weighMs} ms, ${fsyncCut ? 'fsync cut' : 'cut'} and remount ${cutMs[cutMs.length - 1]} ms, Cloud ${plan.up ? 'up' : 'down'}${plan.flip ? ' then flipped' : ''} (${cloud.events.size - atCloudBefore} new events there; test process event loop lag max ${Math.round(lag.max / 1e6)} ms)`,
      );
    }
    for (const s of this.scales) s.stop();

    // After the last cut: Cloud up, Node-RED up, until every OK'd weighing is at the Cloud.
    setCloud(true);
    const okdBarcodes = this.scales.flatMap((s) => s.okd);
    const atCloud = (): Set<string> => new Set([...cloud.events.values()].map((e) => String(e.payload.barcode)));
    const edge = await startEdge();
    const missing = (): string[] => {
      const have = atCloud();
      return okdBarcodes.filter((b) => !have.has(b));
    };
    // Bounded: the backlog drains in seconds. Lost weighings never come: once the Edge is linked
    // and nothing new has reached the Cloud for a while (long where no loss is expected, to be
    // sure; short in the control, which loses), what is still missing is lost.
    const quietMs = o.durability === 'full' ? 15_000 : 3000;
    await waitFor(() => /connected to the Cloud/.test(edge.output) || edge.exited, 'the Edge to link to the Cloud', 30_000);
    const drainUntil = Date.now() + 60_000;
    let seen = -1;
    let quietSince = Date.now();
    while (missing().length > 0 && Date.now() < drainUntil && Date.now() - quietSince < quietMs) {
      if (cloud.received.length !== seen) [seen, quietSince] = [cloud.received.length, Date.now()];
      await sleep(50);
    }
    const missingAtCloud = missing();
    await edge.stop();
    await this.mount.unmount();

    // The disk as the cuts left it (and the app's own recovery made it), checked from root/.
    const db = new Database(path.join(this.mount.root, 'carnitrack.db'), { readonly: true });
    let integrity: string;
    let inDb: Set<string>;
    let rowsInDb: number;
    try {
      integrity = (db.pragma('integrity_check', { simple: true }) as string) ?? '';
      const barcodes = (db.prepare('SELECT payload FROM events').pluck().all() as string[]).map((p) => String((JSON.parse(p) as { barcode?: string }).barcode));
      rowsInDb = barcodes.length;
      inDb = new Set(barcodes);
    } finally {
      db.close();
    }
    return {
      durability: o.durability,
      cycles: o.cycles,
      fsyncCuts: o.fsyncCuts ? Math.floor(o.cycles / 2) : 0,
      okd: okdBarcodes.length,
      resends: this.scales.reduce((n, s) => n + s.resends, 0),
      missingAtCloud: missingAtCloud.map((b) => `${b} (cycle ${cycleOf.get(b)})`),
      missingInDb: okdBarcodes.filter((b) => !inDb.has(b)).map((b) => `${b} (cycle ${cycleOf.get(b)})`),
      integrity,
      eventsInDb: inDb.size,
      storedTwice: rowsInDb - inDb.size,
      maxCacheUse,
      startMs,
      cutMs,
      totalMs: Date.now() - t0,
    };
  }

  /** Stops everything this rig started (also after a failure, then keeping the files to look at). */
  async cleanup(keepFiles = false): Promise<void> {
    for (const s of this.scales) s.stop();
    if (this.edge && !this.edge.exited) {
      this.edge.kill();
      await this.edge.gone().catch(() => undefined);
    }
    process.off('exit', this.exitHook);
    await this.mount?.unmount();
    await this.cloud?.stop();
    if (keepFiles && this.dir) {
      fs.writeFileSync(path.join(this.dir, 'node-red.log'), this.edge?.output ?? '');
      console.log(`      kept for a look: ${this.dir} (root/ = the disk, lazyfs.log, node-red.log of the last start)`);
    } else if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function summary(f: Figures): string {
  return [
    `durability ${f.durability}: ${f.cycles} power cuts (${f.fsyncCuts} of them just before an fsync), ${SCALES} scales, ${f.okd} weighings OK'd (${f.resends} resent after a cut),`,
    `  ${f.missingAtCloud.length} OK'd weighings missing at the Cloud, ${f.missingInDb.length} missing in the database (${f.eventsInDb} distinct in it, ${f.storedTwice} stored twice: stored, cut before the OK, resent),`,
    `  integrity_check: ${f.integrity}, LazyFS cache use at most ${f.maxCacheUse}%,`,
    `  ${(f.totalMs / 1000).toFixed(1)} s in all, ${Math.round(f.totalMs / (f.cycles + 1))} ms a cycle, Node-RED start median ${median(f.startMs)} ms (max ${Math.max(...f.startMs)} ms), cut to remounted median ${median(f.cutMs)} ms`,
  ].join('\n');
}

describe('power cut (LazyFS): nothing a scale was told OK for is lost', function () {
  const seed = Number(process.env.POWER_CUT_SEED) || Date.now() % 100_000;
  const log = (s: string): void => {
    if (process.env.POWER_CUT_VERBOSE) console.log(`      ${s}`);
  };
  let rig: PowerCutRig | null = null;

  before(async function () {
    this.timeout(20 * 60_000); // a first run builds LazyFS
    const lf = await lazyFsMountable();
    if (!lf.ok) {
      console.log(`      power-cut test skipped: ${lf.why}`);
      this.skip();
    }
  });

  afterEach(async function () {
    this.timeout(60_000);
    await rig?.cleanup(this.currentTest?.state === 'failed');
    rig = null;
  });

  it(`durability full: ${CYCLES} cuts of the default flow lose no OK'd weighing, and the database stays intact`, async function () {
    this.timeout(CYCLES * 30_000 + 120_000);
    rig = new PowerCutRig();
    // Mostly down, so that the disk is the only copy of most weighings when the power goes;
    // up in one cycle of three, and flipping during the weighing in one of four.
    const f = await rig.run({ durability: 'full', cycles: CYCLES, fsyncCuts: true, seed, log, cloud: (c) => ({ up: c % 3 === 1, flip: c % 4 === 3 }) });
    console.log(`      seed ${seed}\n${summary(f).replace(/^/gm, '      ')}`);
    assert.ok(f.okd >= CYCLES, `the scales weighed (${f.okd} OK'd in ${CYCLES} cycles)`);
    assert.ok(f.maxCacheUse < MAX_CACHE_USE_PERCENT, `LazyFS's cache stayed far from full (a full cache writes through): ${f.maxCacheUse}%`);
    assert.deepEqual(
      f.missingAtCloud,
      [],
      `${f.missingAtCloud.length} of ${f.okd} OK'd weighings never reached the Cloud, first: ${f.missingAtCloud.slice(0, 10).join(', ')}`,
    );
    assert.deepEqual(f.missingInDb, [], `${f.missingInDb.length} OK'd weighings are not in the database, first: ${f.missingInDb.slice(0, 10).join(', ')}`);
    assert.equal(f.integrity, 'ok');
  });

  it(`control, durability normal: the same cuts lose OK'd weighings (the rig can see a loss)`, async function () {
    this.timeout(CONTROL_CYCLES * 30_000 + 120_000);
    rig = new PowerCutRig();
    // Cloud down through every cut: the disk is the only copy of each weighing.
    const f = await rig.run({ durability: 'normal', cycles: CONTROL_CYCLES, fsyncCuts: false, seed, log, cloud: () => ({ up: false, flip: false }) });
    console.log(`      seed ${seed}\n${summary(f).replace(/^/gm, '      ')}`);
    assert.ok(f.okd >= CONTROL_CYCLES, `the scales weighed (${f.okd} OK'd in ${CONTROL_CYCLES} cycles)`);
    assert.ok(f.maxCacheUse < MAX_CACHE_USE_PERCENT, `LazyFS's cache stayed far from full: ${f.maxCacheUse}%`);
    assert.ok(f.missingAtCloud.length > 0, `with Durability normal the cuts lost none of ${f.okd} OK'd weighings: the rig does not cut power`);
    assert.equal(f.integrity, 'ok');
  });
});
