import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { freePort, waitFor, ScaleClient, sleep } from '../helpers/node-red';
import { weighingBytes, CRLF } from '../helpers/lines';
import { lazyFsMountable, LazyFsMount } from '../helpers/lazyfs';
import { ReferenceCloud } from '../../sim/reference-cloud';

const projectRoot = path.resolve(__dirname, '..', '..', '..');

/**
 * Real disk faults (LazyFS, a FUSE file system: a torn write of the WAL, and the disk vanishing
 * at the WAL's fsync) under a real Node-RED running the default flow, its database on the
 * LazyFS mount. The process must stay up, say what is wrong, OK nothing it could not write,
 * and carry on by itself once the disk is mounted again; every weighing it OK'd must survive,
 * at the Cloud and in the database after a power cut.
 */
describe('disk faults under the default flow (LazyFS: torn WAL write, disk gone at fsync)', function () {
  this.timeout(240_000);
  let dir: string;
  let m: LazyFsMount | null = null;
  let child: ChildProcess | null = null;
  let exited: { code: number | null; signal: string | null } | null = null;
  let output = '';
  let httpPort: number;
  let tcpPort: number;
  let cloud: ReferenceCloud;
  const clients: ScaleClient[] = [];
  const url = (p: string): string => `http://127.0.0.1:${httpPort}${p}`;

  before(async function () {
    this.timeout(20 * 60_000); // a first run builds LazyFS
    const lf = await lazyFsMountable();
    if (!lf.ok) {
      console.log(`      skipped: ${lf.why}`);
      this.skip();
    }
  });

  beforeEach(async () => {
    // Short: FIFO commands naming files under it must fit in 99 bytes.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctdf-'));
    m = await LazyFsMount.mount(dir);
    [httpPort, tcpPort] = [await freePort(), await freePort()];
    cloud = new ReferenceCloud({ apiKeys: ['e2e-key'], path: '/edge' });
    await cloud.start();
    output = '';
    exited = null;
    const userDir = path.join(dir, 'user'); // on the plain disk: only the database is on LazyFS
    child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'start.js')], {
      cwd: projectRoot,
      env: {
        ...process.env,
        HTTP_PORT: String(httpPort),
        TCP_PORT: String(tcpPort),
        NODE_RED_USER_DIR: userDir,
        DATABASE_PATH: path.join(m.mnt, 'x.db'),
        EDGE_SITE_ID: 'PLANT9',
        CLOUD_WS_URL: cloud.url,
        CLOUD_API_KEY: 'e2e-key',
        HTTP_HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code, signal) => (exited = { code, signal }));
    await waitFor(
      () => (/listening for DP-401 scales/.test(output) && /connected to the Cloud/.test(output)) || exited !== null,
      'Node-RED, dp401-in and the Cloud link',
      60_000,
    );
    assert.equal(exited, null, output);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    if (child && !exited) {
      child.kill('SIGTERM');
      await waitFor(() => exited !== null, 'Node-RED to exit', 20_000).catch(() => child?.kill('SIGKILL'));
    }
    child = null;
    await cloud.stop();
    await m?.unmount();
    m = null;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const health = async (): Promise<{ status: number; problems: string[] }> => {
    const res = await fetch(url('/carnitrack/health'));
    return { status: res.status, problems: ((await res.json()) as { problems: string[] }).problems };
  };

  let nextWeight = 1000;
  /**
   * One weighing, stop-and-wait: true when the scale got OK within `waitMs`. A weighing that
   * gets none is given up with its socket (a real scale reconnects), so a late OK can never be
   * counted for the next one.
   */
  const weigh = async (okd: number[], waitMs: number): Promise<boolean> => {
    let c = clients.at(-1);
    if (!c || c.closed) {
      c = await ScaleClient.connect(tcpPort);
      clients.push(c);
      c.write('SCALE-01');
    }
    const w = nextWeight++;
    const before = c.oks;
    c.write(Buffer.concat([weighingBytes({ netRaw: w, grossRaw: w + 2500, tareRaw: 2500 }), CRLF]));
    try {
      await c.waitForOks(before + 1, waitMs);
    } catch {
      c.destroy();
      return false;
    }
    okd.push(w);
    return true;
  };

  /** The fault hits while the scales weigh; then the gateway is checked while the disk is away, and after it is back. */
  async function faultAndRecover(inject: (mount: LazyFsMount) => Promise<void>): Promise<void> {
    const mount = m!;
    const okd: number[] = [];
    for (let i = 0; i < 5; i++) assert.ok(await weigh(okd, 10_000), `weighing ${i} before the fault: OK`);
    await inject(mount);
    // Weigh on until the fault hits (the first commit after the command): bounded.
    let refused = 0;
    for (let i = 0; i < 20 && mount.alive; i++) if (!(await weigh(okd, 3000))) refused++;
    assert.equal(mount.alive, false, 'the fault hit: LazyFS is gone, the mount answers ENOTCONN');
    // The process stays up, for some seconds.
    for (let i = 0; i < 5; i++) {
      await sleep(1000);
      assert.equal(exited, null, `Node-RED exited after the disk fault:\n${output.slice(-4000)}`);
    }
    // Health names the disk; no OK for what cannot be written.
    const h = await health();
    assert.equal(h.status, 503);
    assert.match(h.problems.join('\n'), /disk fault/);
    for (let i = 0; i < 2; i++) assert.equal(await weigh(okd, 3000), false, 'no OK while the disk is away');
    refused += 2;
    assert.ok(refused >= 2);
    assert.match(output, /lost the disk/, 'a log line');

    // The disk comes back: unmounted and mounted again at the same place.
    await mount.unmount();
    await mount.remount();
    await waitFor(async () => (await health()).status === 200, 'health 200 again (the gateway reopened the database by itself)', 90_000);
    assert.equal(exited, null);
    for (let i = 0; i < 5; i++) assert.ok(await weigh(okd, 10_000), `weighing ${i} after the recovery: OK`);

    // Every OK'd weighing reaches the Cloud.
    const atCloud = (): Set<number> => new Set([...cloud.events.values()].map((e) => e.payload.weightGrams));
    await waitFor(() => okd.every((w) => atCloud().has(w)), "every OK'd weighing at the Cloud", 60_000);
    assert.equal(exited, null, output.slice(-4000));

    // And on the disk, after a power cut: stop Node-RED, drop what LazyFS holds unsynced, remount.
    child!.kill('SIGTERM');
    await waitFor(() => exited !== null, 'Node-RED to stop', 20_000);
    await mount.clearCache();
    await mount.unmount();
    await mount.remount();
    const db = new Database(path.join(mount.mnt, 'x.db'));
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      const stored = new Set((db.prepare('SELECT weight_grams AS w FROM events').all() as Array<{ w: number }>).map((r) => r.w));
      assert.deepEqual(
        okd.filter((w) => !stored.has(w)),
        [],
        "every OK'd weighing is in the database",
      );
    } finally {
      db.close();
    }
  }

  it("a torn write of the WAL (LazyFS dies mid-write): stays up, alarms, no OK, recovers by itself, loses nothing OK'd", async () => {
    await faultAndRecover((mount) => mount.tornWrite(path.join(mount.root, 'x.db-wal'), 3, [1]));
  });

  it("the disk vanishes at the WAL fsync: stays up, alarms, no OK, recovers by itself, loses nothing OK'd", async () => {
    await faultAndRecover((mount) => mount.crashOn('before', 'fsync', 'db-wal'));
  });
});
