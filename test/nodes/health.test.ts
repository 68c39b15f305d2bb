import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { FlowNode } from 'node-red-node-test-helper';
import dp401InModule = require('../../nodes/dp401-in/dp401-in');
import siteModule = require('../../nodes/carnitrack-site/carnitrack-site');
import eventStoreModule = require('../../nodes/event-store/event-store');
import { helper, withCatalog, freePort, waitFor } from '../helpers/node-red';
import { tempDirs, taggedEvent } from '../helpers/temp';

const modules = [
  withCatalog(dp401InModule as never, 'dp401-in'),
  withCatalog(siteModule as never, 'carnitrack-site'),
  withCatalog(eventStoreModule as never, 'event-store'),
];

interface Health {
  status: number;
  body: { status: string; problems: string[]; warnings: string[] };
}

interface Answer {
  status: number;
  text: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}
/** Node-RED's admin app through the test helper's supertest (its typings here leave it out). */
const admin = (): { get(r: string): Promise<Answer>; post(r: string): Promise<Answer> } =>
  (helper as unknown as { request(): { get(r: string): Promise<Answer>; post(r: string): Promise<Answer> } }).request();

function health(): Promise<Health> {
  return admin().get('/carnitrack/health') as unknown as Promise<Health>;
}

/**
 * /carnitrack/health (the Docker HEALTHCHECK's route) answers non-2xx whenever the tab shows an
 * error-level problem, with the tab's words naming the node: real Node-RED nodes, a real port
 * and a real SQLite file.
 */
describe('GET /carnitrack/health tells the same truth as the tab', function () {
  this.timeout(60_000);
  const dirs = tempDirs();
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    (helper as unknown as { settings(s: Record<string, unknown>): void }).settings({});
    await helper.unload();
    await helper.stopServer();
    dirs.cleanup();
  });

  async function deploy(store: Record<string, unknown>): Promise<void> {
    const port = await freePort();
    const flow: FlowNode[] = [
      { id: 'site', type: 'carnitrack-site', siteId: 'SITE01', databasePath: path.join(dirs.make(), 'carnitrack.db'), durability: 'full' },
      {
        id: 'in',
        type: 'dp401-in',
        name: 'DP-401 scales',
        port: String(port),
        bindAddress: '127.0.0.1',
        ackMode: 'store',
        timeZone: 'Europe/Istanbul',
        wires: [['store'], []],
      },
      { id: 'store', type: 'event-store', name: 'event store', site: 'site', statusIntervalS: 3600, wires: [[], ['in'], []], ...store },
    ];
    await helper.load(modules, flow);
    await waitFor(() => helper.getNode('in') !== null, 'the nodes');
  }

  it('200 ok when all is well', async () => {
    await deploy({});
    await waitFor(async () => (await health()).status === 200, 'healthy');
    const h = await health();
    assert.equal(h.body.status, 'ok');
    assert.deepEqual(h.body.problems, []);
  });

  it('503 naming the store when its free-disk alarm holds (the disk is "full")', async () => {
    await deploy({ minFreeDiskMB: 10_000_000 }); // more than this disk has: the alarm holds
    const h = await health();
    assert.equal(h.status, 503);
    assert.equal(h.body.status, 'unhealthy');
    assert.ok(
      h.body.problems.some((p) => /^event store: disk almost full: \d+ MiB free, alarm under 10000000 MiB$/.test(p)),
      h.body.problems.join('\n'),
    );
  });

  it('503 naming the store when it could not start', async () => {
    await deploy({ window: 'lots' });
    const h = await health();
    assert.equal(h.status, 503);
    assert.ok(
      h.body.problems.some((p) => /^event store: not running: .*window/.test(p)),
      h.body.problems.join('\n'),
    );
  });

  it('exports the weighings of a date range as CSV (one line each, oldest first, by scale) and makes a backup on request', async () => {
    const userDir = dirs.make();
    (helper as unknown as { settings(s: Record<string, unknown>): void }).settings({ userDir });
    await deploy({});
    const store = helper.getNode('store');
    const day = (d: number, h: number): string => new Date(Date.UTC(2026, 11, d, h)).toISOString();
    const events = [
      taggedEvent({ deviceId: 'SCALE-01', receivedAt: day(1, 8), productName: 'KIYMA' }),
      taggedEvent({ deviceId: 'SCALE-02', receivedAt: day(2, 9), productName: 'KUŞBAŞI' }),
      taggedEvent({ deviceId: 'SCALE-01', receivedAt: day(2, 10), productName: 'BONFİLE' }),
      taggedEvent({ deviceId: 'SCALE-01', receivedAt: day(3, 11), productName: 'ANTRİKOT' }),
    ];
    for (const e of events) store.receive({ topic: 'event', payload: e });
    await waitFor(async () => ((await admin().get('/carnitrack/events?limit=10')).body as unknown as unknown[]).length === 4, 'the four stored');
    const csv = await admin().get('/carnitrack/events.csv?from=2026-12-02&to=2026-12-03');
    assert.equal(csv.status, 200);
    assert.match(csv.headers['content-type'], /^text\/csv/);
    assert.match(csv.headers['content-disposition'], /attachment; filename="carnitrack-events-2026-12-02-to-2026-12-03.csv"/);
    const lines = csv.text
      .replace(/^\ufeff/, '')
      .split('\r\n')
      .filter(Boolean);
    assert.match(lines[0], /^receivedAt,scaleTimestamp,deviceId,pluCode,productName,weightGrams/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(',').slice(0, 5).join(',')),
      [`${day(2, 9)},,SCALE-02,00001,KUŞBAŞI`, `${day(2, 10)},,SCALE-01,00001,BONFİLE`],
    );
    const one = await admin().get('/carnitrack/events.csv?from=2026-12-01&to=2026-12-04&device=SCALE-02');
    assert.equal(one.text.split('\r\n').filter(Boolean).length, 2, 'the header and SCALE-02');
    const bad = await admin().get('/carnitrack/events.csv?from=last-week');
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /from must be a date or time/);

    const backup = await admin().post('/carnitrack/stores/store/backup');
    assert.equal(backup.status, 200, JSON.stringify(backup.body));
    const copy = String(backup.body.path);
    assert.equal(path.dirname(copy), path.join(userDir, 'backups'), 'in the user directory');
    assert.match(copy, /\bcarnitrack-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.db$/);
    const db = new Database(copy, { readonly: true });
    try {
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n, 4, 'the copy holds the weighings');
    } finally {
      db.close();
      fs.rmSync(copy);
    }
  });
});
