import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase, type SqliteDatabase } from '../../lib/db/database';
import { StoreService, type CloudMessage } from '../../lib/store/store-service';
import { tempDirs, taggedEvent } from '../helpers/temp';

describe('StoreService', () => {
  const dirs = tempDirs();
  let db: SqliteDatabase;
  let svc: StoreService;
  let dir: string;

  beforeEach(() => {
    dir = dirs.make();
    db = openDatabase(path.join(dir, 'site.db'));
    svc = new StoreService(db, {
      siteId: 'SITE01',
      batchSize: 100,
      window: 1000,
      ackTimeoutMs: 30_000,
      retentionDays: 30,
      minFreeDiskBytes: 0,
      maxPendingAgeMs: 3_600_000,
    });
  });
  afterEach(() => {
    svc.close();
    db.close();
    dirs.cleanup();
  });

  it('commits events that arrive together in one transaction (group commit)', async () => {
    let transactions = 0;
    const insertMany = svc.store.insertMany.bind(svc.store);
    svc.store.insertMany = (events, now) => {
      transactions++;
      return insertMany(events, now);
    };
    const results = await Promise.all(Array.from({ length: 50 }, () => svc.submit(taggedEvent())));
    assert.equal(results.filter(Boolean).length, 50);
    assert.equal(transactions, 1);
    assert.equal(svc.store.counts().pending, 50);
  });

  it('refuses an event without a localEventId, naming the field', async () => {
    await assert.rejects(svc.submit({ deviceId: 'SCALE-01', weightGrams: 1, receivedAt: 'x' }), /localEventId/);
    await assert.rejects(svc.submit({ ...taggedEvent(), weightGrams: 1.5 }), /weightGrams/);
  });

  it('sends a live event as `event` while connected, and the backlog as `event_batch` pages', async () => {
    const sent: CloudMessage[] = [];
    svc.on('cloud', (m) => sent.push(m));
    await Promise.all(Array.from({ length: 150 }, () => svc.submit(taggedEvent())));
    assert.equal(sent.length, 0);
    svc.setConnected(true);
    assert.deepEqual(
      sent.map((m) => [m.topic, (m.payload.events as unknown[]).length]),
      [
        ['event_batch', 100],
        ['event_batch', 50],
      ],
    );
    await svc.submit(taggedEvent());
    assert.equal(sent[2].topic, 'event');
  });

  it('makes an online backup that opens as a complete database', async () => {
    await Promise.all(Array.from({ length: 20 }, () => svc.submit(taggedEvent())));
    const target = path.join(dir, 'backups', 'copy.db');
    const r = await svc.backup(target);
    assert.equal(r.path, target);
    const copy = new Database(target, { readonly: true });
    assert.equal((copy.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n, 20);
    copy.close();
    await assert.rejects(svc.backup(path.join(dir, 'site.db')), /live database/);
  });

  it('raises alarms for low disk and an old backlog', async () => {
    const now = Date.now();
    const alarmed = new StoreService(db, {
      siteId: 'S',
      batchSize: 1,
      window: 1,
      ackTimeoutMs: 1,
      retentionDays: 1,
      minFreeDiskBytes: Number.MAX_SAFE_INTEGER,
      maxPendingAgeMs: 60_000,
      now: () => now + 3_600_000,
    });
    alarmed.store.insertMany([taggedEvent()], now);
    const fig = alarmed.figures();
    assert.equal(fig.alarms.length, 2);
    assert.match(fig.alarms[0], /free disk/);
    assert.match(fig.alarms[1], /oldest unsent event is 60 min old/);
    assert.ok(fig.databaseBytes > 0);
  });
});

describe('StoreService acks: grouped, and never lost on close', () => {
  const dirs = tempDirs();
  let dir: string;
  const opts = { siteId: 'SITE01', batchSize: 100, window: 1000, ackTimeoutMs: 30_000, retentionDays: 30, minFreeDiskBytes: 0, maxPendingAgeMs: 3_600_000 };

  beforeEach(() => (dir = dirs.make()));
  afterEach(() => dirs.cleanup());

  async function connectedWith(db: SqliteDatabase, n: number): Promise<{ svc: StoreService; sent: CloudMessage[]; ids: string[] }> {
    const svc = new StoreService(db, opts);
    const sent: CloudMessage[] = [];
    svc.on('cloud', (m) => sent.push(m));
    const events = Array.from({ length: n }, () => taggedEvent());
    await Promise.all(events.map((e) => svc.submit(e)));
    svc.setConnected(true);
    return { svc, sent, ids: events.map((e) => e.localEventId) };
  }

  it('writes the acks received in one tick in one transaction, and refills the window a page at a time', async () => {
    const db = openDatabase(path.join(dir, 'site.db'));
    const { svc, sent, ids } = await connectedWith(db, 1500);
    assert.deepEqual(
      sent.map((m) => m.topic),
      Array(10).fill('event_batch'),
      'the first 1,000 in pages of 100',
    );
    let transactions = 0;
    const many = svc.store.markSyncedMany.bind(svc.store);
    svc.store.markSyncedMany = (acks, now) => {
      transactions++;
      return many(acks, now);
    };
    sent.length = 0;
    // A trickle of acks: no single-event frames go out while less than a page has room.
    for (const id of ids.slice(0, 50)) svc.ack({ localEventId: id, status: 'accepted' });
    await new Promise((r) => setImmediate(r));
    assert.equal(transactions, 1, 'fifty acks, one transaction');
    assert.equal(sent.length, 0, 'fifty free slots are less than a page: nothing sent yet');
    for (const id of ids.slice(50, 250)) svc.ack({ localEventId: id, status: 'duplicate' });
    await new Promise((r) => setImmediate(r));
    assert.equal(transactions, 2);
    assert.deepEqual(
      sent.map((m) => [m.topic, (m.payload.events as unknown[]).length]),
      [
        ['event_batch', 100],
        ['event_batch', 100],
        ['event_batch', 50],
      ],
    );
    assert.equal(svc.store.counts().synced, 250);
    svc.close();
    db.close();
  });

  it('commits on close the acks received just before it', async () => {
    const file = path.join(dir, 'site.db');
    const db = openDatabase(file);
    const { svc, ids } = await connectedWith(db, 800);
    for (const id of ids) svc.ack({ localEventId: id, cloudEventId: `c-${id}`, status: 'accepted' });
    svc.close(); // same tick: nothing was written yet
    db.close();
    const check = new Database(file, { readonly: true });
    const rows = check.prepare(`SELECT sync_state AS s, COUNT(*) AS n FROM events GROUP BY sync_state`).all();
    check.close();
    assert.deepEqual(rows, [{ s: 'synced', n: 800 }]);
  });

  it('reports acks for events it does not hold as one warning per tick', async () => {
    const db = openDatabase(path.join(dir, 'site.db'));
    const { svc } = await connectedWith(db, 1);
    const warnings: string[] = [];
    svc.on('warning', (w) => warnings.push(w));
    for (let i = 0; i < 20; i++) svc.ack({ localEventId: `nope-${i}` });
    await new Promise((r) => setImmediate(r));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /event_ack for 20 event\(s\) this store does not hold: nope-0, nope-1, nope-2, \.\.\./);
    assert.throws(() => svc.ack({ localEventId: 1 }), /localEventId is missing/);
    svc.close();
    db.close();
  });
});
