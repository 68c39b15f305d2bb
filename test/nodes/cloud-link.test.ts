import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { FlowNode, NodeModule } from 'node-red-node-test-helper';
import dp401InModule = require('../../nodes/dp401-in/dp401-in');
import siteModule = require('../../nodes/carnitrack-site/carnitrack-site');
import sessionCacheModule = require('../../nodes/session-cache/session-cache');
import eventStoreModule = require('../../nodes/event-store/event-store');
import cloudLinkModule = require('../../nodes/cloud-link/cloud-link');
import { currentProblems } from '../../nodes/shared/problems';
import { helper, withCatalog, freePort, waitFor, collect, calls, ScaleClient, sleep } from '../helpers/node-red';
import { tempDirs, taggedEvent } from '../helpers/temp';
import { ReferenceCloud } from '../../sim/reference-cloud';
import { ProtocolCodec } from '../../lib/protocol/codec';

// The core switch node routes the Cloud's messages, as in the default flow.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const switchModule = require('@node-red/nodes/core/function/10-switch.js') as NodeModule;

const modules = [
  switchModule,
  withCatalog(dp401InModule as never, 'dp401-in'),
  withCatalog(siteModule as never, 'carnitrack-site'),
  withCatalog(sessionCacheModule as never, 'session-cache'),
  withCatalog(eventStoreModule as never, 'event-store'),
  withCatalog(cloudLinkModule as never, 'cloud-link'),
];

const API_KEY = 'test-key-5f1d2c';

/** The whole edge: scales -> tagging -> store -> Cloud, with the Cloud's answers routed back. */
function edgeFlow(tcpPort: number, dbFile: string, cloudUrl: string, link: Record<string, unknown> = {}): FlowNode[] {
  const topicSwitch = (id: string, topics: string[][], wires: string[][]): FlowNode => ({
    id,
    type: 'switch',
    property: 'topic',
    propertyType: 'msg',
    rules: topics.map((t) => ({ t: 'regex', v: `^(${t.join('|')})$`, vt: 'str' })),
    checkall: 'true',
    outputs: topics.length,
    wires,
  });
  return [
    { id: 'tab', type: 'tab', label: 'edge' },
    { id: 'site', type: 'carnitrack-site', siteId: 'SITE01', siteName: 'Test plant', databasePath: dbFile, durability: 'full' },
    ...[
      {
        id: 'in',
        type: 'dp401-in',
        port: String(tcpPort),
        bindAddress: '127.0.0.1',
        ackMode: 'store',
        timeZone: 'Europe/Istanbul',
        wires: [['cache'], ['devices']],
      },
      topicSwitch('devices', [['device_connected', 'device_disconnected', 'device_heartbeat']], [['link']]),
      { id: 'cache', type: 'session-cache', site: 'site', expiryHours: 12, wires: [['store']] },
      {
        id: 'store',
        type: 'event-store',
        site: 'site',
        batchSize: 100,
        window: 1000,
        ackTimeoutS: 30,
        statusIntervalS: 3600,
        wires: [['link'], ['in'], ['storeStatus']],
      },
      {
        id: 'link',
        type: 'cloud-link',
        site: 'site',
        url: cloudUrl,
        keepAliveS: 0.5,
        pongTimeoutS: 0.5,
        minBackoffS: 0.05,
        maxBackoffS: 0.5,
        handshakeTimeoutS: 2,
        maxFrameKB: 64,
        ...link,
        wires: [
          ['fromCloud', 'cloudMessages'],
          ['cache', 'store', 'linkStatus'],
          ['store', 'acks'],
        ],
      },
      topicSwitch(
        'fromCloud',
        [
          ['session_started', 'session_ended', 'session_paused', 'session_resumed'],
          ['event_ack', 'event_rejected'],
        ],
        [['cache'], ['store']],
      ),
      { id: 'cloudMessages', type: 'helper' },
      { id: 'linkStatus', type: 'helper' },
      { id: 'acks', type: 'helper' },
      { id: 'storeStatus', type: 'helper' },
    ].map((n, i) => ({ x: 100 + 120 * i, y: 100, z: 'tab', ...n })),
  ];
}

describe('cloud-link with the reference Cloud (real WebSocket, sockets, SQLite)', function () {
  this.timeout(120_000);
  const dirs = tempDirs();
  let tcpPort: number;
  let dbFile: string;
  let cloud: ReferenceCloud;
  const clients: ScaleClient[] = [];

  async function start(link: Record<string, unknown> = {}, apiKey = API_KEY) {
    const url = typeof link.url === 'string' ? link.url : cloud.url;
    await helper.load(modules, edgeFlow(tcpPort, dbFile, url, link), { link: { apiKey } });
    const n = {
      in: helper.getNode('in'),
      link: helper.getNode('link'),
      store: helper.getNode('store'),
      cloudMessages: collect(helper.getNode('cloudMessages')),
      linkStatus: collect(helper.getNode('linkStatus')),
      acks: collect(helper.getNode('acks')),
    };
    const st = calls(n.in, 'status');
    await waitFor(() => st().some((s) => /no scale|scales:/.test(String((s[0] as { text?: string }).text))), 'dp401-in to listen');
    return n;
  }
  /** Links that came up: a status saying connected after one that did not. */
  const connected = (n: Awaited<ReturnType<typeof start>>): number =>
    n.linkStatus.filter(
      (m, i) => (m.payload as { connected: boolean }).connected && !(i > 0 && (n.linkStatus[i - 1].payload as { connected: boolean }).connected),
    ).length;

  async function scale(id: string): Promise<ScaleClient> {
    const c = await ScaleClient.connect(tcpPort);
    clients.push(c);
    c.write(id);
    return c;
  }
  const syncState = (): Record<string, number> => {
    const db = new Database(dbFile, { readonly: true });
    try {
      const rows = db.prepare('SELECT sync_state AS s, COUNT(*) AS n FROM events GROUP BY sync_state').all() as Array<{ s: string; n: number }>;
      return Object.fromEntries(rows.map((r) => [r.s, r.n]));
    } finally {
      db.close();
    }
  };
  const eventsAtCloud = () =>
    cloud.received.flatMap((m) => (m.type === 'event' ? [m.payload] : m.type === 'event_batch' ? (m.payload.events as Array<Record<string, unknown>>) : []));

  beforeEach(async () => {
    tcpPort = await freePort();
    dbFile = path.join(dirs.make(), 'carnitrack.db');
    cloud = new ReferenceCloud({ apiKeys: [API_KEY], path: '/edge' });
    await cloud.start();
    await helper.startServer();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await helper.unload();
    await helper.stopServer();
    await cloud.stop();
    dirs.cleanup();
  });

  it('registers with the key and headers, and keeps the edge id the Cloud assigned across a restart', async () => {
    let n = await start();
    await waitFor(() => cloud.received.some((m) => m.type === 'register'), 'register');
    const first = cloud.received.find((m) => m.type === 'register')!;
    assert.equal(first.payload.edgeId, null);
    assert.equal(first.payload.siteId, 'SITE01');
    assert.equal(first.payload.siteName, 'Test plant');
    await waitFor(() => n.linkStatus.some((m) => (m.payload as { edgeId: string | null }).edgeId !== null), 'the assigned edge id');
    const assigned = [...cloud.edgeIds][0];
    await helper.unload();
    n = await start();
    await waitFor(() => cloud.received.filter((m) => m.type === 'register').length === 2, 'the second register');
    assert.equal(cloud.received.filter((m) => m.type === 'register')[1].payload.edgeId, assigned);
    assert.equal(cloud.edgeIds.size, 1, 'no new edge id');
    void n;
  });

  it('tags the next weighing with a session the Cloud starts, and the Cloud acknowledges it', async () => {
    const n = await start();
    await waitFor(() => connected(n) > 0, 'the link');
    cloud.startSession({ cloudSessionId: 's-42', deviceId: 'SCALE-01', animalTag: 'A-42', animalSpecies: 'Dana' });
    await waitFor(() => n.cloudMessages.some((m) => m.topic === 'session_started'), 'the session at the edge');
    const s = await scale('SCALE-01');
    await s.weigh(1500);
    await waitFor(() => cloud.events.size === 1, 'the event at the Cloud');
    const [e] = [...cloud.events.values()].map((x) => x.payload);
    assert.deepEqual([e.cloudSessionId, e.deviceId, e.globalDeviceId, e.weightGrams, e.offlineMode], ['s-42', 'SCALE-01', 'SITE01-SCALE-01', 1500, false]);
    await waitFor(() => syncState().synced === 1, 'the event marked synced');
    await waitFor(() => cloud.received.some((m) => m.type === 'device_connected' && m.payload.deviceId === 'SCALE-01'), 'device_connected at the Cloud');
  });

  it('marks an event the Cloud rejects as failed, and a duplicate ack as synced', async () => {
    cloud.faults.reject = { pluCode: '00007', reason: 'Invalid PLU code' };
    const n = await start();
    await waitFor(() => connected(n) > 0, 'the link');
    const s = await scale('SCALE-01');
    await s.weigh(900);
    await waitFor(() => syncState().failed === 1, 'the event marked failed');
    cloud.faults.reject = null;
    // Acks delayed past a dropped link: the edge sends the event again and gets "duplicate".
    // The delay is long enough that a slow poll of the Cloud below cannot let the ack through first.
    cloud.faults.ackDelayMs = 2000;
    await s.weigh(950);
    await waitFor(() => cloud.events.size === 1, 'the Cloud to hold the second event');
    cloud.dropConnections();
    cloud.faults.ackDelayMs = 0;
    await waitFor(() => syncState().synced === 1, 'the resent event acknowledged as duplicate', 20_000);
    const [held] = [...cloud.events.values()];
    assert.equal(held.count, 2, 'the Cloud saw it twice and stored it once');
    assert.deepEqual(syncState(), { failed: 1, synced: 1 });
  });

  it('captures offline while the Cloud is down and delivers every event exactly once, in order, with true batch totals', async () => {
    const n = await start();
    await waitFor(() => connected(n) > 0, 'the link');
    const port = cloud.port;
    await cloud.stop();
    await waitFor(() => (n.linkStatus[n.linkStatus.length - 1].payload as { connected: boolean }).connected === false, 'the link to drop');
    const a = await scale('SCALE-01');
    const b = await scale('SCALE-02');
    const weightsA = [1000, 1100, 1200, 1300];
    const weightsB = [2000, 2100];
    for (let i = 0; i < 4; i++) {
      await a.weigh(weightsA[i]);
      if (i < 2) await b.weigh(weightsB[i]);
    }
    // The Cloud comes back, empty, on the same address.
    cloud = new ReferenceCloud({ apiKeys: [API_KEY], path: '/edge', port });
    await cloud.start();
    await waitFor(
      () => cloud.events.size === 6 && cloud.batches.size === 2 && [...cloud.batches.values()].every((x) => x.end),
      'all events and both batch ends',
      30_000,
    );
    await waitFor(() => syncState().synced === 6, 'all synced');
    const events = eventsAtCloud();
    assert.equal(events.length, 6, 'each event exactly once');
    assert.deepEqual(
      events.filter((e) => e.deviceId === 'SCALE-01').map((e) => e.weightGrams),
      weightsA,
    );
    assert.deepEqual(
      events.filter((e) => e.deviceId === 'SCALE-02').map((e) => e.weightGrams),
      weightsB,
    );
    for (const batch of cloud.batches.values()) {
      assert.ok(batch.start, 'batch start delivered');
      const mine = events.filter((e) => e.offlineBatchId === batch.end!.batchId);
      assert.equal(batch.end!.eventCount, mine.length);
      assert.equal(
        batch.end!.totalWeightGrams,
        mine.reduce((s, e) => s + (e.weightGrams as number), 0),
      );
    }
    assert.ok(events.every((e) => e.offlineMode === true));
  });

  it('while down keeps only the latest status of each device, and no events (the store resends those)', async () => {
    const port = await freePort();
    await cloud.stop();
    // A Cloud that is not there yet, at a known address.
    cloud = new ReferenceCloud({ apiKeys: [API_KEY], path: '/edge', port });
    const n = await start({ url: `ws://127.0.0.1:${port}/edge` });
    const hb = (deviceId: string, heartbeatCount: number) => ({ deviceId, status: 'online', heartbeatCount, timestamp: new Date().toISOString() });
    for (let i = 1; i <= 3; i++) n.link.receive({ topic: 'device_heartbeat', payload: hb('SCALE-01', i) });
    n.link.receive({ topic: 'device_heartbeat', payload: hb('SCALE-02', 7) });
    n.link.receive({ topic: 'event', payload: { localEventId: 'not-kept', deviceId: 'SCALE-01', weightGrams: 1, receivedAt: new Date().toISOString() } });
    await cloud.start();
    await waitFor(() => cloud.received.filter((m) => m.type === 'device_heartbeat').length === 2, 'the held heartbeats', 20_000);
    await sleep(200);
    const beats = cloud.received
      .filter((m) => m.type === 'device_heartbeat')
      .map((m) => [m.payload.deviceId, m.payload.heartbeatCount, m.payload.globalDeviceId]);
    assert.deepEqual(beats.sort(), [
      ['SCALE-01', 3, 'SITE01-SCALE-01'],
      ['SCALE-02', 7, 'SITE01-SCALE-02'],
    ]);
    assert.ok(!cloud.received.some((m) => m.type === 'event' && m.payload.localEventId === 'not-kept'), 'events are not queued in memory');
  });

  it('says in words that the Cloud refused the API key: a short red status, and the problem for the tab', async () => {
    const n = await start({}, 'not-the-key');
    const st = calls(n.link, 'status');
    const linkProblems = (): Array<[string, unknown]> =>
      currentProblems()
        .filter((p) => p.nodeId === 'link')
        .map((p) => [p.code, p.values.url]);
    await waitFor(() => linkProblems().length > 0, 'a problem for the link', 10_000);
    assert.deepEqual(linkProblems(), [['key-refused', cloud.url]]);
    await waitFor(
      () => st().some((s) => (s[0] as { text: string; fill: string }).text === 'key refused' && (s[0] as { fill: string }).fill === 'red'),
      'the key refused status',
    );
  });

  it('is refused while the Cloud refuses connections, and connects when it accepts again', async () => {
    cloud.faults.refuseUntil = Date.now() + 1500;
    const n = await start();
    await waitFor(() => n.linkStatus.some((m) => /503/.test(String((m.payload as { reason: string | null }).reason))), 'a refused attempt');
    await waitFor(() => connected(n) === 1, 'the link once the Cloud accepts', 20_000);
  });

  it('replaces a half-open link (no pong) and reconnects after a clean close by the server', async () => {
    const n = await start();
    await waitFor(() => connected(n) === 1, 'the link');
    const started = Date.now();
    cloud.faults.silent = true;
    await waitFor(
      () => n.linkStatus.some((m) => /no pong/.test(String((m.payload as { reason: string | null }).reason))),
      'the half-open link to be detected',
      40_000,
    );
    cloud.faults.silent = false;
    await waitFor(() => connected(n) === 2, 'a new link', 40_000);
    assert.ok(Date.now() - started < 40_000);
    cloud.closeConnections();
    await waitFor(() => connected(n) === 3, 'a link after the clean close', 20_000);
    assert.equal(cloud.connections, 1, 'never two live sockets');
  });

  it('ignores malformed and oversized frames, reports them, and keeps the link', async () => {
    const n = await start();
    await waitFor(() => connected(n) === 1, 'the link');
    const errors = calls(n.link, 'error');
    const accepted = cloud.connectionsAccepted;
    const codec = new ProtocolCodec();
    cloud.sendRaw('this is not JSON');
    cloud.sendRaw(JSON.stringify({ type: 'teleport', payload: {}, timestamp: 'now', messageId: '1' }));
    cloud.sendRaw(JSON.stringify({ type: 'event_ack', payload: { localEventId: 1 }, timestamp: 'now', messageId: '2' }));
    cloud.sendRaw(Buffer.from([1, 2, 3]), true);
    cloud.sendRaw(codec.encode('config_update', { note: 'x'.repeat(100 * 1024) }, null, 'to-edge'));
    await waitFor(() => errors().length >= 5, 'five reports');
    const reasons = errors().map((e) => String(e[0]));
    assert.ok(reasons.some((r) => /not JSON/.test(r)));
    assert.ok(reasons.some((r) => /unknown message type "teleport"/.test(r)));
    assert.ok(reasons.some((r) => /event_ack payload/.test(r)));
    assert.ok(reasons.some((r) => /binary frame/.test(r)));
    assert.ok(reasons.some((r) => /over the 65536-byte limit/.test(r)));
    cloud.startSession({ cloudSessionId: 's-ok', deviceId: 'SCALE-09' });
    await waitFor(() => n.cloudMessages.some((m) => m.topic === 'session_started'), 'a valid message after the bad ones');
    await sleep(100);
    assert.equal(cloud.connectionsAccepted, accepted, 'the link was never replaced');
    assert.equal(connected(n), 1);
  });
  it('closes the link on a frame over 4 x Max frame, says so, and reconnects', async () => {
    const n = await start();
    await waitFor(() => connected(n) === 1, 'the link');
    const errors = calls(n.link, 'error');
    const accepted = cloud.connectionsAccepted;
    cloud.sendRaw(new ProtocolCodec().encode('config_update', { note: 'x'.repeat(300 * 1024) }, null, 'to-edge'));
    await waitFor(() => errors().some((e) => /4 x Max frame/.test(String(e[0]))), 'the report of the closed link');
    await waitFor(() => cloud.connectionsAccepted > accepted && connected(n) === 2, 'a new link');
  });
  it('with "Event acks: grouped", sends the acks of each answer as one event_acks message on output 3, and event-store applies them', async () => {
    const n = await start({ ackOutput: 'grouped' });
    await waitFor(() => connected(n) === 1, 'the link');
    const events = Array.from({ length: 500 }, () => taggedEvent());
    for (const e of events) n.store.receive({ topic: 'event', payload: e });
    await waitFor(() => syncState().synced === 500, 'all 500 synced', 30_000);
    assert.equal(n.cloudMessages.filter((m) => m.topic === 'event_ack').length, 0, 'no single acks on output 1');
    const grouped = n.acks.filter((m) => m.topic === 'event_acks');
    const acked = grouped.flatMap((m) => (m.payload as { acks: Array<{ localEventId: string }> }).acks.map((a) => a.localEventId));
    assert.deepEqual(new Set(acked), new Set(events.map((e) => e.localEventId)));
    assert.ok(grouped.length <= 50, `grouped: ${grouped.length} messages for 500 acks`);
  });
});
