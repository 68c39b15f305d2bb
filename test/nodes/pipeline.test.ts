import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { FlowNode } from 'node-red-node-test-helper';
import dp401InModule = require('../../nodes/dp401-in/dp401-in');
import siteModule = require('../../nodes/carnitrack-site/carnitrack-site');
import sessionCacheModule = require('../../nodes/session-cache/session-cache');
import eventStoreModule = require('../../nodes/event-store/event-store');
import { helper, withCatalog, freePort, waitFor, collect, calls, ScaleClient, sleep, type Msg } from '../helpers/node-red';
import { weighingBytes, CRLF } from '../helpers/lines';
import { tempDirs, taggedEvent } from '../helpers/temp';
import { acquireDatabase } from '../../lib/db/database-pool';
import { liveWeightFrom } from '../../lib/protocol/wire';

const modules = [
  withCatalog(dp401InModule as never, 'dp401-in'),
  withCatalog(siteModule as never, 'carnitrack-site'),
  withCatalog(sessionCacheModule as never, 'session-cache'),
  withCatalog(eventStoreModule as never, 'event-store'),
];

type Payload = Record<string, unknown>;
const p = (m: Msg): Payload => m.payload as Payload;

/** dp401-in -> session-cache -> event-store, with the store's "stored" output wired back to dp401-in. */
function pipeline(port: number, dbFile: string, store: Record<string, unknown> = {}): FlowNode[] {
  const onCanvas = (n: FlowNode, i: number): FlowNode => ({ x: 100 + 150 * i, y: 100, z: 'tab', ...n });
  return [
    { id: 'tab', type: 'tab', label: 'pipeline' },
    { id: 'site', type: 'carnitrack-site', siteId: 'SITE01', siteName: 'Test plant', databasePath: dbFile, durability: 'full' },
    ...[
      {
        id: 'in',
        type: 'dp401-in',
        port: String(port),
        bindAddress: '127.0.0.1',
        ackMode: 'store',
        timeZone: 'Europe/Istanbul',
        wires: [['cache'], ['devices']],
      },
      { id: 'cache', type: 'session-cache', site: 'site', expiryHours: 12, wires: [['store']] },
      {
        id: 'store',
        type: 'event-store',
        site: 'site',
        batchSize: 100,
        window: 1000,
        ackTimeoutS: 30,
        statusIntervalS: 3600,
        ...store,
        wires: [['cloud'], ['in', 'stored'], ['status']],
      },
      { id: 'cloud', type: 'helper' },
      { id: 'stored', type: 'helper' },
      { id: 'status', type: 'helper' },
      { id: 'devices', type: 'helper' },
    ].map(onCanvas),
  ];
}

describe('dp401-in -> session-cache -> event-store (real sockets, real SQLite)', function () {
  this.timeout(120_000);
  const dirs = tempDirs();
  let port: number;
  let dbFile: string;
  const clients: ScaleClient[] = [];

  async function start(store: Record<string, unknown> = {}) {
    await helper.load(modules, pipeline(port, dbFile, store));
    const n = {
      in: helper.getNode('in'),
      cache: helper.getNode('cache'),
      store: helper.getNode('store'),
      cloud: collect(helper.getNode('cloud')),
      stored: collect(helper.getNode('stored')),
      status: collect(helper.getNode('status')),
    };
    const st = calls(n.in, 'status');
    await waitFor(() => st().some((s) => /no scale|scales:/.test(String((s[0] as { text?: string }).text))), 'dp401-in to listen');
    return n;
  }
  type Nodes = Awaited<ReturnType<typeof start>>;

  const cloudStatus = (n: Nodes, connected: boolean): void => {
    n.cache.receive({ topic: 'cloud_status', payload: { connected } });
    n.store.receive({ topic: 'cloud_status', payload: { connected } });
  };

  async function scale(id: string): Promise<ScaleClient> {
    const c = await ScaleClient.connect(port);
    clients.push(c);
    c.write(id);
    return c;
  }

  const cloudEvents = (n: Nodes): Payload[] =>
    n.cloud.flatMap((m) => (m.topic === 'event' ? [p(m)] : m.topic === 'event_batch' ? (p(m).events as Payload[]) : []));

  const rowCount = (): number => {
    const db = new Database(dbFile, { readonly: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  beforeEach(async () => {
    port = await freePort();
    dbFile = path.join(dirs.make(), 'carnitrack.db');
    await helper.startServer();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await helper.unload();
    await helper.stopServer();
    dirs.cleanup();
  });

  it('tags weighings with the Cloud session online, and OK reaches the scale only after the row is committed', async () => {
    const n = await start();
    cloudStatus(n, true);
    n.cache.receive({
      topic: 'session_started',
      payload: { cloudSessionId: 's-1', deviceId: 'SCALE-01', animalId: 'an-1', animalTag: 'A-123', animalSpecies: 'Dana', operatorId: 'op-1' },
    });
    const s = await scale('SCALE-01');
    // At the instant OK arrives, the row must already be in the database file.
    const rowsAtOk: number[] = [];
    s.socket.on('data', () => rowsAtOk.push(rowCount()));
    await s.weigh(1500);
    assert.deepEqual(rowsAtOk, [1]);
    await waitFor(() => cloudEvents(n).length === 1, 'the event at the Cloud output');
    const e = cloudEvents(n)[0];
    assert.deepEqual(
      [e.deviceId, e.globalDeviceId, e.cloudSessionId, e.animalTag, e.animalSpecies, e.sessionStatus, e.offlineMode, e.offlineBatchId, e.weightGrams],
      ['SCALE-01', 'SITE01-SCALE-01', 's-1', 'A-123', 'Dana', 'active', false, null, 1500],
    );
    assert.equal(n.cloud[0].topic, 'event');
  });

  it('keeps tagging a paused session, marked paused', async () => {
    const n = await start();
    cloudStatus(n, true);
    n.cache.receive({ topic: 'session_started', payload: { sessionId: 's-2', deviceId: 'SCALE-01', animalTag: 'A-7' } });
    n.cache.receive({ topic: 'session_paused', payload: { cloudSessionId: 's-2', deviceId: 'SCALE-01' } });
    const s = await scale('SCALE-01');
    await s.weigh(800);
    await waitFor(() => cloudEvents(n).length === 1, 'the event');
    const e = cloudEvents(n)[0];
    assert.deepEqual([e.cloudSessionId, e.animalTag, e.sessionStatus, e.offlineBatchId], ['s-2', 'A-7', 'paused', null]);
  });

  it('puts two scales offline into separate batches and reports their exact counts and weights on reconnect', async () => {
    const n = await start();
    const a = await scale('SCALE-01');
    const b = await scale('SCALE-02');
    for (const w of [1000, 1100, 1200]) await a.weigh(w);
    for (const w of [2000, 2500]) await b.weigh(w);
    assert.equal(n.cloud.length, 0, 'nothing goes to the Cloud while it is unreachable');
    cloudStatus(n, true);
    await waitFor(() => n.cloud.filter((m) => m.topic === 'offline_batch_end').length === 2 && cloudEvents(n).length === 5, 'two batch ends and five events');
    const starts = n.cloud.filter((m) => m.topic === 'offline_batch_start').map(p);
    const ends = n.cloud.filter((m) => m.topic === 'offline_batch_end').map(p);
    assert.equal(starts.length, 2);
    const byDevice = Object.fromEntries(ends.map((e) => [e.deviceId, e]));
    assert.deepEqual([byDevice['SCALE-01'].eventCount, byDevice['SCALE-01'].totalWeightGrams], [3, 3300]);
    assert.deepEqual([byDevice['SCALE-02'].eventCount, byDevice['SCALE-02'].totalWeightGrams], [2, 4500]);
    const events = cloudEvents(n);
    for (const e of events) {
      assert.equal(e.offlineMode, true);
      assert.equal(e.offlineBatchId, byDevice[e.deviceId as string].batchId);
    }
    assert.deepEqual(
      events.filter((e) => e.deviceId === 'SCALE-01').map((e) => e.weightGrams),
      [1000, 1100, 1200],
    );
    assert.equal(new Set(events.map((e) => e.localEventId)).size, 5);
  });

  it('closes a device batch when a session starts on it', async () => {
    const n = await start();
    cloudStatus(n, true);
    const s = await scale('SCALE-03');
    await s.weigh(700);
    await s.weigh(900);
    await waitFor(() => cloudEvents(n).length === 2, 'both events');
    const batchId = cloudEvents(n)[0].offlineBatchId;
    assert.ok(batchId, 'a device without a session gets a batch');
    assert.equal(p(n.cloud.find((m) => m.topic === 'offline_batch_start')!).reason, 'no-session');
    n.cache.receive({ topic: 'session_started', payload: { cloudSessionId: 's-3', deviceId: 'SCALE-03' } });
    await waitFor(() => n.cloud.some((m) => m.topic === 'offline_batch_end'), 'the batch end');
    const end = p(n.cloud.find((m) => m.topic === 'offline_batch_end')!);
    assert.deepEqual([end.batchId, end.endReason, end.eventCount, end.totalWeightGrams], [batchId, 'session-started', 2, 1600]);
    await s.weigh(1000);
    await waitFor(() => cloudEvents(n).length === 3, 'the next event');
    assert.deepEqual([cloudEvents(n)[2].cloudSessionId, cloudEvents(n)[2].offlineBatchId], ['s-3', null]);
  });

  it('keeps sessions, open batches and the backlog across a restart on the same file', async () => {
    let n = await start();
    n.cache.receive({ topic: 'session_started', payload: { cloudSessionId: 's-4', deviceId: 'SCALE-01', animalTag: 'A-4' } });
    let s = await scale('SCALE-01');
    await s.weigh(1234);
    await s.weigh(4321);
    for (const c of clients.splice(0)) c.destroy();
    await helper.unload();
    n = await start();
    s = await scale('SCALE-01');
    await s.weigh(1111);
    cloudStatus(n, true);
    await waitFor(() => cloudEvents(n).length === 3 && n.cloud.some((m) => m.topic === 'offline_batch_end'), 'the backlog and the batch end');
    const events = cloudEvents(n);
    assert.deepEqual(
      events.map((e) => e.weightGrams),
      [1234, 4321, 1111],
    );
    assert.ok(events.every((e) => e.cloudSessionId === 's-4' && e.animalTag === 'A-4'));
    assert.equal(new Set(events.map((e) => e.offlineBatchId)).size, 1, 'one batch across the restart');
    const end = p(n.cloud.find((m) => m.topic === 'offline_batch_end')!);
    assert.deepEqual([end.eventCount, end.totalWeightGrams], [3, 6666]);
  });

  it('marks acks synced, keeps a rejected event as failed and resends it on retry_failed', async () => {
    const n = await start();
    cloudStatus(n, true);
    n.cache.receive({ topic: 'session_started', payload: { cloudSessionId: 's-5', deviceId: 'SCALE-01' } });
    const s = await scale('SCALE-01');
    for (const w of [100, 200, 300]) await s.weigh(w);
    await waitFor(() => cloudEvents(n).length === 3, 'three events');
    const [e1, e2, e3] = cloudEvents(n);
    n.store.receive({ topic: 'event_ack', payload: { localEventId: e1.localEventId, cloudEventId: 'c-1', status: 'accepted' } });
    n.store.receive({ topic: 'event_ack', payload: { localEventId: e2.localEventId, cloudEventId: 'c-2', status: 'duplicate' } });
    n.store.receive({ topic: 'event_rejected', payload: { localEventId: e3.localEventId, reason: 'Invalid PLU code' } });
    n.store.receive({ topic: 'status' });
    await waitFor(() => n.status.some((m) => m.topic === 'store_status'), 'the status figures');
    const fig = p(n.status.find((m) => m.topic === 'store_status')!);
    assert.deepEqual([fig.pending, fig.synced, fig.failed, fig.inFlight], [0, 2, 1, 0]);
    assert.deepEqual(p(n.status.find((m) => m.topic === 'event_failed')!), { localEventId: e3.localEventId, reason: 'Invalid PLU code' });
    n.store.receive({ topic: 'retry_failed' });
    await waitFor(() => cloudEvents(n).length === 4, 'the failed event resent');
    assert.equal(cloudEvents(n)[3].localEventId, e3.localEventId);
  });

  it('sends every rejection on output 3 but logs one warning with a count, not one per event', async () => {
    const n = await start();
    const warnings = calls(n.store, 'warn');
    cloudStatus(n, true);
    const s = await scale('SCALE-01');
    for (const w of [100, 200, 300, 400, 500]) await s.weigh(w);
    await waitFor(() => cloudEvents(n).length === 5, 'five events');
    for (const e of cloudEvents(n)) n.store.receive({ topic: 'event_rejected', payload: { localEventId: e.localEventId, reason: 'Invalid PLU code' } });
    await waitFor(() => n.status.filter((m) => m.topic === 'event_failed').length === 5, 'five event_failed messages');
    await sleep(50);
    assert.equal(warnings().filter((w) => /Invalid PLU code/.test(String(w[0]))).length, 1);
  });

  it('stores the same localEventId once and acknowledges both deliveries', async () => {
    const n = await start();
    const e = taggedEvent();
    n.store.receive({ topic: 'event', payload: e, _session: { type: 'dp401', id: 'x-1' } });
    n.store.receive({ topic: 'event', payload: e, _session: { type: 'dp401', id: 'x-1' } });
    await waitFor(() => n.stored.length === 2, 'two acks');
    assert.deepEqual(
      n.stored.map((m) => [m.topic, p(m).inserted, m._session?.id]),
      [
        ['ack', true, 'x-1'],
        ['ack', false, 'x-1'],
      ],
    );
    assert.equal(rowCount(), 1);
  });

  it('drains 10,000 pending events oldest first, never more than the window awaiting ack', async function () {
    this.timeout(300_000);
    const n = await start({ window: 1000, batchSize: 100 });
    const events = Array.from({ length: 10_000 }, (_, i) => taggedEvent({ deviceId: `SCALE-0${(i % 3) + 1}` }));
    for (const e of events) n.store.receive({ topic: 'event', payload: e });
    await waitFor(() => n.stored.length === events.length, 'all 10,000 stored', 120_000);
    n.store.receive({ topic: 'cloud_status', payload: { connected: true } });
    const received: string[] = [];
    let maxUnacked = 0;
    for (let round = 0; received.length < events.length && round < 200; round++) {
      await waitFor(() => cloudEvents(n).length > received.length, `more events after ${received.length}`, 20_000);
      await sleep(20);
      const batch = cloudEvents(n).slice(received.length);
      received.push(...batch.map((e) => e.localEventId as string));
      maxUnacked = Math.max(maxUnacked, batch.length);
      assert.ok(
        n.cloud.every((m) => m.topic !== 'event_batch' || (p(m).events as unknown[]).length <= 100),
        'pages of at most the batch size',
      );
      for (const e of batch)
        n.store.receive({ topic: 'event_ack', payload: { localEventId: e.localEventId, cloudEventId: `c-${e.localEventId}`, status: 'accepted' } });
    }
    assert.ok(maxUnacked <= 1000, `at most 1000 awaiting ack, saw ${maxUnacked}`);
    assert.equal(maxUnacked, 1000, 'the window is used in full');
    assert.deepEqual(
      received,
      events.map((e) => e.localEventId),
      'oldest first, each exactly once',
    );
  });

  it('refuses a weighing cleanly when the database is full (no OK), and recovers by itself when space returns', async () => {
    const n = await start();
    const errors = calls(n.store, 'error');
    const s = await scale('SCALE-01');
    // No small filesystem can be mounted here without privileges: SQLite's max_page_count
    // caps the database instead. The test holds its own lease on the same shared connection.
    const lease = acquireDatabase(dbFile);
    try {
      const pages = lease.db.pragma('page_count', { simple: true }) as number;
      lease.db.pragma(`max_page_count = ${pages + 1}`);
      let refused = false;
      for (let i = 0; i < 200 && !refused; i++) {
        const oks = s.oks;
        const errs = errors().length;
        s.write(Buffer.concat([weighingBytes({ netRaw: 1000 + i, grossRaw: 3500 + i, operator: 'X'.repeat(48) }), CRLF]));
        await waitFor(() => s.oks > oks || errors().length > errs, 'an OK or a refusal');
        refused = errors().length > errs;
        if (refused) {
          await sleep(200);
          assert.equal(s.oks, oks, 'no OK for the refused weighing');
        }
      }
      assert.ok(refused, 'the capped database refused a write');
      assert.match(String(errors()[errors().length - 1][0]), /not stored: disk or database full/);
      const storedBefore = rowCount();
      lease.db.pragma('max_page_count = 1073741823');
      await s.weigh(4242);
      assert.equal(rowCount(), storedBefore + 1);
    } finally {
      lease.release();
    }
  });
  it('a weighing refused by a full disk and resent on a new connection is stored before its OK (not_stored reaches dp401-in)', async () => {
    const n = await start();
    let s = await scale('SCALE-01');
    const lease = acquireDatabase(dbFile);
    try {
      const pages = lease.db.pragma('page_count', { simple: true }) as number;
      lease.db.pragma(`max_page_count = ${pages + 1}`);
      let refused = -1;
      for (let i = 0; i < 200 && refused < 0; i++) {
        const oks = s.oks;
        const nacks = n.stored.filter((m) => m.topic === 'not_stored').length;
        s.write(Buffer.concat([weighingBytes({ netRaw: 6000 + i, grossRaw: 8500 + i, operator: 'X'.repeat(48) }), CRLF]));
        await waitFor(() => s.oks > oks || n.stored.filter((m) => m.topic === 'not_stored').length > nacks, 'an OK or a not_stored');
        if (s.oks === oks) refused = 6000 + i;
      }
      assert.ok(refused > 0, 'the capped database refused a weighing');
      const nack = n.stored.find((m) => m.topic === 'not_stored')!;
      assert.equal(p(nack).deviceId, 'SCALE-01');
      assert.match(String(p(nack).error), /disk or database full/);
      assert.equal(nack._session?.type, 'dp401');
      await sleep(100);
      s.destroy();
      lease.db.pragma('max_page_count = 1073741823');
      s = await scale('SCALE-01');
      const rowsAtOk: number[] = [];
      const weightStored = (): number => {
        const db = new Database(dbFile, { readonly: true });
        try {
          return (db.prepare('SELECT COUNT(*) AS n FROM events WHERE weight_grams = ?').get(refused) as { n: number }).n;
        } finally {
          db.close();
        }
      };
      s.socket.on('data', () => rowsAtOk.push(weightStored()));
      s.write(Buffer.concat([weighingBytes({ netRaw: refused, grossRaw: refused + 2500, operator: 'X'.repeat(48) }), CRLF]));
      await s.waitForOks(1);
      assert.deepEqual(rowsAtOk, [1], 'the resent weighing was committed when its OK arrived');
    } finally {
      lease.release();
    }
  });

  it('writes the Cloud acks received just before a redeploy, so nothing is sent twice after it', async () => {
    const n = await start({ window: 1000, batchSize: 100 });
    const events = Array.from({ length: 600 }, () => taggedEvent());
    for (const e of events) n.store.receive({ topic: 'event', payload: e });
    await waitFor(() => n.stored.length === events.length, 'all stored', 30_000);
    cloudStatus(n, true);
    await waitFor(() => cloudEvents(n).length === events.length, 'all sent');
    for (const e of events) n.store.receive({ topic: 'event_ack', payload: { localEventId: e.localEventId, status: 'accepted' } });
    await helper.unload(); // at once: the acks are still waiting for their transaction
    const db = new Database(dbFile, { readonly: true });
    try {
      assert.deepEqual(db.prepare('SELECT sync_state AS s, COUNT(*) AS n FROM events GROUP BY sync_state').all(), [{ s: 'synced', n: 600 }]);
    } finally {
      db.close();
    }
  });
});

describe('session-cache: the live output for watching', function () {
  this.timeout(60_000);
  const dirs = tempDirs();
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    dirs.cleanup();
  });

  async function cacheWith(liveRate: unknown) {
    await helper.load(modules, [
      { id: 'site', type: 'carnitrack-site', siteId: 'SITE01', databasePath: path.join(dirs.make(), 'carnitrack.db'), durability: 'full' },
      { id: 'cache', type: 'session-cache', site: 'site', expiryHours: 12, liveRate, wires: [['tagged'], ['live']] },
      { id: 'tagged', type: 'helper' },
      { id: 'live', type: 'helper' },
    ]);
    const out1 = collect(helper.getNode('tagged'));
    // Output 1 also carries the offline batch's start (no Cloud here): the events are what counts.
    return { cache: helper.getNode('cache'), tagged: () => out1.filter((m) => m.topic === 'event'), live: collect(helper.getNode('live')) };
  }

  it('sends a copy of a tagged event at most at its rate, and every event on output 1 whatever the live view does', async () => {
    const n = await cacheWith(0.1); // one every 10 s: the first of this burst only
    const events = Array.from({ length: 30 }, () => taggedEvent());
    for (const e of events) n.cache.receive({ topic: 'event', payload: e });
    await waitFor(() => n.tagged().length === 30, 'every event tagged on output 1');
    await waitFor(() => n.live.length === 1, 'the live copy');
    await sleep(100);
    assert.equal(n.live.length, 1, 'the others are not sent on the live output');
    assert.equal(n.live[0].topic, 'live_weight');
    const shown = liveWeightFrom(n.live[0]); // as a dashboard reads it
    assert.deepEqual([shown.localEventId, shown.globalDeviceId], [events[0].localEventId, 'SITE01-SCALE-01']);
    // A copy: changing what the live view got leaves the event on its way to the store alone.
    shown.weightGrams = -1;
    assert.equal(p(n.tagged()[0]).weightGrams, events[0].weightGrams);
    assert.deepEqual(
      n.tagged().map((m) => p(m).localEventId),
      events.map((e) => e.localEventId),
    );
  });

  it('shows every scale when three weigh at once: the latest of each, in turn, at most the rate in all', async () => {
    const n = await cacheWith(20);
    const scales = ['SCALE-01', 'SCALE-02', 'SCALE-03'];
    // Each scale weighs five times within the same few milliseconds.
    const events = Array.from({ length: 5 }, () => scales.map((deviceId) => taggedEvent({ deviceId }))).flat();
    for (const e of events) n.cache.receive({ topic: 'event', payload: e });
    await waitFor(() => n.tagged().length === 15, 'every event tagged on output 1');
    await waitFor(() => new Set(n.live.map((m) => p(m).deviceId)).size === 3, 'all three scales on the live output', 5000);
    await waitFor(() => n.live.length === 4, 'SCALE-01 again, with its latest', 5000);
    await sleep(200);
    // SCALE-01's first weighing at once, then the latest of each in turn: not every weighing.
    assert.deepEqual(
      n.live.map((m) => p(m).deviceId),
      ['SCALE-01', 'SCALE-02', 'SCALE-03', 'SCALE-01'],
    );
    const latest = new Map(events.map((e) => [e.deviceId, e.localEventId]));
    assert.equal(p(n.live[0]).localEventId, events[0].localEventId);
    for (const m of n.live.slice(1)) assert.equal(p(m).localEventId, latest.get(String(p(m).deviceId)), `${String(p(m).deviceId)} shows its latest weighing`);
  });

  it('sends nothing on the live output at 0, and refuses to start on a rate it cannot use', async () => {
    const off = await cacheWith(0);
    for (let i = 0; i < 5; i++) off.cache.receive({ topic: 'event', payload: taggedEvent() });
    await waitFor(() => off.tagged().length === 5, 'the events tagged');
    await sleep(100);
    assert.equal(off.live.length, 0);
    await helper.unload();
    const bad = await cacheWith('fast');
    const errors = calls(bad.cache, 'error');
    await waitFor(() => errors().length > 0, 'the settings error');
    assert.match(String(errors()[0][0]), /liveRate must be a number from 0 to 1000, got "fast"/);
  });
});
