import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { freePort, waitFor, ScaleClient } from '../helpers/node-red';
import { DebugSidebar } from '../helpers/debug-sidebar';
import { tempDirs } from '../helpers/temp';
import { weighingBytes, CRLF } from '../helpers/lines';
import { ScaleSimulator } from '../../sim/scale-simulator';
import { ReferenceCloud } from '../../sim/reference-cloud';

const projectRoot = path.resolve(__dirname, '..', '..', '..');
// bcryptjs comes with node-red; it makes the hash `node-red-admin hash-pw` would.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- bcryptjs comes with node-red, without types
const bcrypt = require('bcryptjs') as { hashSync(text: string, rounds: number): string };
const PASSWORD = 'plant-engineer-pw';

describe('npm start: the default flow in a real Node-RED with the reference Cloud and simulated scales', function () {
  this.timeout(180_000);
  const dirs = tempDirs();
  let child: ChildProcess | null = null;
  let exited = false;
  let output = '';
  let userDir: string;
  let httpPort: number;
  let tcpPort: number;
  let cloud: ReferenceCloud;
  let sidebar: DebugSidebar | null = null;
  const sims: ScaleSimulator[] = [];
  const url = (p: string): string => `http://127.0.0.1:${httpPort}${p}`;

  async function token(): Promise<string> {
    const res = await fetch(url('/auth/token'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'engineer', password: PASSWORD }),
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  before(async () => {
    [httpPort, tcpPort] = [await freePort(), await freePort()];
    userDir = dirs.make('carnitrack-e2e-');
    cloud = new ReferenceCloud({ apiKeys: ['e2e-key'], path: '/edge' });
    await cloud.start();
    cloud.startSession({ cloudSessionId: 'session-e2e', deviceId: 'SCALE-01', animalTag: 'A-777', animalSpecies: 'Dana' });
    // What `npm start` runs after its build step, with a plant's environment.
    child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'start.js')], {
      cwd: projectRoot,
      env: {
        ...process.env,
        HTTP_PORT: String(httpPort),
        TCP_PORT: String(tcpPort),
        NODE_RED_USER_DIR: userDir,
        EDGE_SITE_ID: 'PLANT7',
        EDGE_SITE_NAME: 'Plant 7',
        CLOUD_WS_URL: cloud.url,
        CLOUD_API_KEY: 'e2e-key',
        ADMIN_USER: 'engineer',
        ADMIN_PASSWORD_HASH: bcrypt.hashSync(PASSWORD, 8),
        HTTP_HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', () => (exited = true));
    await waitFor(
      () => (/listening for DP-401 scales/.test(output) && /connected to the Cloud/.test(output)) || exited,
      'Node-RED, dp401-in and the Cloud link',
      60_000,
    );
    assert.ok(!exited, output);
  });

  after(async () => {
    sidebar?.close();
    await Promise.all(sims.map((s) => s.stop()));
    if (child && !exited) {
      child.kill('SIGTERM');
      await waitFor(() => exited, 'Node-RED to exit', 15_000);
    }
    await cloud.stop();
    dirs.cleanup();
  });

  it('seeded the default flow and keeps the generated credential secret private', () => {
    assert.ok(fs.existsSync(path.join(userDir, 'flows.json')));
    assert.match(output, /seeded with the default flow/);
    const mode = fs.statSync(path.join(userDir, '.credential-secret')).mode & 0o777;
    assert.equal(mode, 0o600);
  });

  it('sends OK to the scale only after the weighing is committed to SQLite', async () => {
    const scale = await ScaleClient.connect(tcpPort);
    const dbFile = path.join(userDir, 'data', 'carnitrack.db');
    const rowsAtOk: number[] = [];
    scale.socket.on('data', () => {
      const db = new Database(dbFile, { readonly: true });
      rowsAtOk.push((db.prepare("SELECT COUNT(*) AS n FROM events WHERE device_id = 'SCALE-09'").get() as { n: number }).n);
      db.close();
    });
    scale.write(Buffer.concat([Buffer.from('SCALE-09'), weighingBytes({ netRaw: 777, grossRaw: 3277 }), CRLF]));
    await scale.waitForOks(1, 15_000);
    scale.destroy();
    assert.deepEqual(rowsAtOk, [1]);
  });

  it('delivers simulated weighings to the Cloud tagged with the session the Cloud started, and shows them in the debug sidebar', async () => {
    sidebar = await DebugSidebar.open(url(''), await token());
    const sim = new ScaleSimulator({ host: '127.0.0.1', port: tcpPort, deviceId: 'SCALE-01', rate: 10, maxWeighings: 5, duplicateProbability: 0, seed: 3 });
    sims.push(sim);
    sim.start();
    await waitFor(() => sim.done, 'five OKs', 30_000);
    await waitFor(() => [...cloud.events.values()].filter((e) => e.payload.deviceId === 'SCALE-01').length === 5, 'five events at the Cloud', 30_000);
    for (const e of [...cloud.events.values()].filter((x) => x.payload.deviceId === 'SCALE-01')) {
      assert.equal(e.payload.cloudSessionId, 'session-e2e');
      assert.equal(e.payload.globalDeviceId, 'PLANT7-SCALE-01');
      assert.equal((e.payload as { animalTag?: string }).animalTag, 'A-777');
    }
    await waitFor(() => sidebar!.messages.filter((m) => m.name === 'live weights').length >= 5, 'live weights in the debug sidebar', 15_000);
    const shown = sidebar.messages.find((m) => m.name === 'live weights' && /SCALE-01/.test(m.msg))!;
    assert.match(shown.format, /^string/);
    const line = shown.msg;
    assert.match(line, /^SCALE-01 · [A-ZÇĞİÖŞÜ ]+ · \d+\.\d{3} kg · A-777$/);
  });

  it('answers the admin routes with permission and refuses them without', async () => {
    for (const route of [
      '/carnitrack/status',
      '/carnitrack/devices',
      '/carnitrack/sessions',
      '/carnitrack/events?device=SCALE-01&limit=3',
      '/carnitrack/batches',
    ]) {
      assert.equal((await fetch(url(route))).status, 401, `${route} without a token`);
    }
    const auth = { Authorization: `Bearer ${await token()}` };
    const status = (await (await fetch(url('/carnitrack/status'), { headers: auth })).json()) as {
      cloud: Array<{ connected: boolean }>;
      stores: Array<{ pending: number; synced: number }>;
    };
    assert.equal(status.cloud[0].connected, true);
    assert.ok(status.stores[0].synced >= 6);
    const events = (await (await fetch(url('/carnitrack/events?device=SCALE-01&limit=3'), { headers: auth })).json()) as Array<{
      deviceId: string;
      syncState: string;
    }>;
    assert.equal(events.length, 3);
    assert.ok(events.every((e) => e.deviceId === 'SCALE-01' && e.syncState === 'synced'));
    const sessions = (await (await fetch(url('/carnitrack/sessions'), { headers: auth })).json()) as Array<{ sessions: Array<{ cloudSessionId: string }> }>;
    assert.deepEqual(
      sessions[0].sessions.map((s) => s.cloudSessionId),
      ['session-e2e'],
    );
    // A query the caller got wrong is a 400 that names the parameter, never a 500.
    const bad = await fetch(url('/carnitrack/events?state=lost'), { headers: auth });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /state must be one of/);
    for (const limit of ['abc', '0', '1.5']) {
      const r = await fetch(url(`/carnitrack/events?limit=${limit}`), { headers: auth });
      assert.equal(r.status, 400, `limit=${limit}`);
      assert.match(((await r.json()) as { error: string }).error, /limit must be a whole number/);
    }
    const health = await fetch(url('/carnitrack/health'));
    assert.equal(health.status, 200, 'the health route needs no login');
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
  });
  it('answers GET /metrics in OpenMetrics text for Prometheus, with the same login as the admin routes', async () => {
    assert.equal((await fetch(url('/metrics'))).status, 401, 'no metrics without a token');
    const r = await fetch(url('/metrics'), { headers: { Authorization: `Bearer ${await token()}` } });
    assert.equal(r.status, 200);
    const type = r.headers.get('content-type') ?? '';
    assert.match(type, /^application\/openmetrics-text;/);
    assert.match(type, /version=1\.0\.0/);
    const text = await r.text();
    assert.match(text, /\n# EOF\n$/);
    const value = (name: string): number => {
      const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
      assert.ok(m, `${name} in:\n${text}`);
      return Number(m[2]);
    };
    // The weighings of the tests above: stored, delivered, none left in the backlog.
    assert.ok(value('carnitrack_events_stored_total') >= 6);
    assert.equal(value('carnitrack_events_delivered_total'), value('carnitrack_events_stored_total'));
    assert.equal(value('carnitrack_backlog_events'), 0);
    assert.equal(value('carnitrack_backlog_oldest_age_seconds'), 0);
    assert.equal(value('carnitrack_cloud_connected'), 1);
    assert.equal(value('carnitrack_scale_listener_up'), 1);
    assert.ok(value('carnitrack_ack_latency_seconds_count') >= 6);
    // The process's memory, so a gateway slowly filling its RAM shows it.
    assert.ok(value('process_resident_memory_bytes') > value('nodejs_heap_size_used_bytes'));
    assert.ok(value('nodejs_heap_size_used_bytes') > 1024 * 1024);
    // From the second scrape on, how late the event loop ran since the one before.
    const again = await (await fetch(url('/metrics'), { headers: { Authorization: `Bearer ${await token()}` } })).text();
    const lag = /^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(again);
    assert.ok(lag && Number(lag[1]) > 0 && Number(lag[1]) < 10, again);
    assert.match(text, /^# TYPE carnitrack_events_stored counter$/m);
    assert.match(text, /^carnitrack_events_stored_total\{node="[^"]+",node_id="[0-9a-f]+"\} \d+$/m);
  });

  it('gives the CarniTrack tab what it shows: problems in words, settings in use, ISO times, rejected events with reasons, retry and reconnect', async () => {
    const auth = { Authorization: `Bearer ${await token()}` };
    const get = async <T>(route: string): Promise<T> => {
      const r = await fetch(url(route), { headers: auth });
      assert.equal(r.status, 200, `${route}: ${r.status}`);
      return (await r.json()) as T;
    };
    type Status = {
      problems: Array<{ code: string; name: string; values: Record<string, unknown> }>;
      settings: Array<{ type: string; nodeId: string; name: string; resolved: Record<string, unknown> }>;
      gateway: { timeZone: string };
    };
    let status = await get<Status>('/carnitrack/status');
    assert.deepEqual(status.problems, [], 'a healthy edge has no problems');
    // ${TCP_PORT}, ${CLOUD_WS_URL} and the site database as the nodes resolved them.
    const scales = status.settings.find((x) => x.type === 'dp401-in')!;
    assert.equal(scales.name, 'DP-401 scales');
    assert.equal(scales.resolved.port, tcpPort);
    assert.equal(status.settings.find((x) => x.type === 'cloud-link')!.resolved.url, cloud.url);
    assert.equal(status.settings.find((x) => x.type === 'carnitrack-site')!.resolved.databaseFile, path.join(userDir, 'data', 'carnitrack.db'));
    const resolved = await get<{ running: boolean; resolved: { port: number }; gateway: { timeZone: string } }>(`/carnitrack/resolved/${scales.nodeId}`);
    assert.equal(resolved.running, true);
    assert.equal(resolved.resolved.port, tcpPort);
    assert.equal(resolved.gateway.timeZone, status.gateway.timeZone);

    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    const [first] = await get<Array<{ storedAt: unknown; syncedAt: unknown }>>('/carnitrack/events?limit=1');
    assert.match(String(first.storedAt), iso);
    assert.match(String(first.syncedAt), iso);

    // The Cloud rejects one scale's weighings: the tab gets them with the reason, then a retry.
    cloud.faults.reject = { deviceId: 'SCALE-08', reason: 'SCALE-08 is not registered at this plant' };
    const scale = await ScaleClient.connect(tcpPort);
    scale.write(Buffer.concat([Buffer.from('SCALE-08'), weighingBytes({ netRaw: 888, grossRaw: 3388 }), CRLF]));
    await scale.waitForOks(1, 15_000);
    scale.destroy();
    type Row = { deviceId: string; failReason: string | null };
    let failed: Row[] = [];
    await waitFor(async () => (failed = await get<Row[]>('/carnitrack/events?state=failed')).length === 1, 'the rejected weighing', 15_000);
    assert.deepEqual(
      failed.map((e) => [e.deviceId, e.failReason]),
      [['SCALE-08', 'SCALE-08 is not registered at this plant']],
    );
    status = await get<Status>('/carnitrack/status');
    assert.deepEqual(
      status.problems.map((p) => [p.code, p.values.count]),
      [['failed-events', 1]],
    );

    const storeId = status.settings.find((x) => x.type === 'event-store')!.nodeId;
    assert.equal((await fetch(url(`/carnitrack/stores/${storeId}/retry-failed`), { method: 'POST' })).status, 401, 'no retry without a login');
    assert.equal((await fetch(url('/carnitrack/stores/nope/retry-failed'), { method: 'POST', headers: auth })).status, 404);
    cloud.faults.reject = null;
    const retry = await fetch(url(`/carnitrack/stores/${storeId}/retry-failed`), { method: 'POST', headers: auth });
    assert.equal(retry.status, 200);
    assert.deepEqual(await retry.json(), { requeued: 1 });
    // Retried means pending again at once; synced once the Cloud has taken it.
    await waitFor(async () => (await get<Row[]>('/carnitrack/events?state=failed')).length === 0, 'the rejected event to be queued again', 15_000);
    await waitFor(
      async () => (await get<Array<{ syncState: string }>>('/carnitrack/events?device=SCALE-08'))[0]?.syncState === 'synced',
      'the retried event to be accepted',
      15_000,
    );

    // Reconnect now: nothing to do while connected; after an outage it connects at once.
    const linkId = status.settings.find((x) => x.type === 'cloud-link')!.nodeId;
    const reconnect = async (): Promise<unknown> => {
      const r = await fetch(url(`/carnitrack/links/${linkId}/reconnect`), { method: 'POST', headers: auth });
      assert.equal(r.status, 200);
      return r.json();
    };
    assert.deepEqual(await reconnect(), { reconnecting: false, reason: 'already connected' });
    const link = async (): Promise<{ connected: boolean; attempt: number }> =>
      (await get<{ cloud: Array<{ connected: boolean; attempt: number }> }>('/carnitrack/status')).cloud[0];
    cloud.faults.refuseUntil = Date.now() + 60_000;
    cloud.dropConnections();
    await waitFor(async () => (await link()).attempt >= 2, 'two refused attempts', 20_000);
    // The button starts over: the backoff is reset and the next attempt is made now.
    assert.deepEqual(await reconnect(), { reconnecting: true });
    await waitFor(async () => (await link()).attempt === 1, 'a fresh first attempt', 5_000);
    cloud.faults.refuseUntil = 0;
    await waitFor(async () => (await link()).connected, 'the link up again', 15_000);
  });
});
