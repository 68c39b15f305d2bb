import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase, SCHEMA_VERSION, WAL_SIZE_LIMIT, type SqliteDatabase } from '../../lib/db/database';
import { acquireDatabase, openDatabases } from '../../lib/db/database-pool';
import { EventLog, SEARCH_STEP } from '../../lib/store/event-log';
import { tempDirs, taggedEvent } from '../helpers/temp';

describe('EventLog (the events table) on a real SQLite file', () => {
  const dirs = tempDirs();
  let db: SqliteDatabase;
  let store: EventLog;

  beforeEach(() => {
    db = openDatabase(path.join(dirs.make(), 'site.db'));
    store = new EventLog(db);
  });
  afterEach(() => {
    if (db.open) db.close();
    dirs.cleanup();
  });

  it('creates the schema by migration, in WAL mode with synchronous=FULL and the WAL file cut back to 16 MiB', () => {
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    assert.equal(db.pragma('journal_size_limit', { simple: true }), WAL_SIZE_LIMIT);
  });

  it('stores every field, raw line included, and the same id twice is one row', () => {
    const e = taggedEvent({ raw: '00001,10:00:00,...', animalTag: 'A-123' });
    assert.deepEqual(store.insertMany([e, { ...e, weightGrams: 1 }], 1000), [true, false]);
    assert.deepEqual(store.insertMany([e], 2000), [false]);
    const rows = store.recent();
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].event, e);
    assert.equal(rows[0].syncState, 'pending');
  });

  it('keeps each field once: the columns hold theirs, payload the rest, and an event reads back exactly as given', () => {
    const e = taggedEvent({ cloudSessionId: 'sess-1', globalDeviceId: 'SITE-SCALE-01', scaleTimestamp: '2026-12-03T10:00:00+03:00', flags: ['0', 'N'] });
    const odd = taggedEvent({ pluCode: 17, cloudSessionId: null, weightGrams: 2 ** 60 }); // not what the columns hold exactly
    store.insertMany([e, odd], 0);
    const payloads = db.prepare('SELECT payload FROM events ORDER BY seq').pluck().all() as string[];
    const first = JSON.parse(payloads[0]) as Record<string, unknown>;
    for (const field of ['localEventId', 'deviceId', 'globalDeviceId', 'cloudSessionId', 'pluCode', 'weightGrams', 'scaleTimestamp', 'receivedAt', 'raw'])
      assert.equal(field in first, false, `${field} is in its column only`);
    assert.deepEqual(first.flags, ['0', 'N']);
    const second = JSON.parse(payloads[1]) as Record<string, unknown>;
    assert.deepEqual([second.pluCode, second.cloudSessionId, second.weightGrams], [17, null, 2 ** 60]);
    assert.deepEqual(
      store.pendingPage(0, 10).map((r) => r.event),
      [e, odd],
    );
    assert.deepEqual(
      store.recent().map((r) => r.event),
      [odd, e],
    );
    // A row of an earlier release, with every field in payload, reads the same.
    const old = taggedEvent({ cloudSessionId: 'sess-2' });
    store.insertMany([old], 0);
    db.prepare('UPDATE events SET payload = ? WHERE local_event_id = ?').run(JSON.stringify(old), old.localEventId);
    assert.deepEqual(store.recent({ limit: 1 })[0].event, old);
  });

  it('pages the backlog oldest first and never deletes what is unsynced', () => {
    const events = Array.from({ length: 25 }, (_, i) => taggedEvent({ deviceId: i % 2 ? 'SCALE-01' : 'SCALE-02' }));
    store.insertMany(events, 0);
    const seen: string[] = [];
    let cursor = 0;
    for (let page = store.pendingPage(cursor, 10); page.length; page = store.pendingPage(cursor, 10)) {
      seen.push(...page.map((r) => r.localEventId));
      cursor = page[page.length - 1].seq;
    }
    assert.deepEqual(
      seen,
      events.map((e) => e.localEventId),
    );
    assert.equal(store.deleteSyncedBefore(Date.now() + 1e9, 1000), 0);
  });

  it('marks acks and rejections, keeps rejected events, and retries them on request', () => {
    const [a, b] = [taggedEvent(), taggedEvent()];
    store.insertMany([a, b], 0);
    assert.equal(store.markSynced(a.localEventId, 'cloud-1', 10), 'synced');
    assert.equal(store.markSynced(a.localEventId, 'cloud-1', 11), 'already');
    assert.equal(store.markSynced('nope', null, 11), 'unknown');
    assert.equal(store.markFailed(b.localEventId, 'Invalid PLU code'), 'failed');
    assert.equal(store.markFailed(a.localEventId, 'late'), 'not-pending');
    assert.deepEqual({ ...store.counts(), oldestPendingStoredAt: null }, { pending: 0, failed: 1, synced: 1, oldestPendingStoredAt: null });
    assert.equal(store.recent({ syncState: 'failed' })[0].failReason, 'Invalid PLU code');
    assert.equal(store.counts(false).synced, null, 'the light counts leave out the synced history');
    assert.equal(store.retryFailed(), 1);
    assert.equal(store.counts().pending, 1);
  });

  it('after a crash finds every pending row: ids and marks not written yet are read back, a retried event below the mark is sent', () => {
    const [a, b, c] = [taggedEvent(), taggedEvent(), taggedEvent()];
    store.insertMany([a, b], 0);
    store.markFailed(a.localEventId, 'Invalid PLU code');
    store.markSynced(b.localEventId, 'cloud-b', 1);
    store.settle(); // the low-water mark moves past both
    store.insertMany([c], 2);
    assert.equal(store.retryFailed(), 1);
    // A crash: nothing more is written (no settle), the connection goes.
    const file = db.name;
    db.close();
    db = openDatabase(file);
    store = new EventLog(db);
    assert.deepEqual(
      store.pendingPage(0, 10).map((r) => r.localEventId),
      [a.localEventId, c.localEventId],
      'the retried one and the one stored after the last settle',
    );
    assert.deepEqual(store.insertMany([c, b], 3), [false, false], 'both ids known: c read back from the table, b from event_ids');
    assert.equal(store.counts().pending, 2);
  });

  it('a settle in steps writes the oldest acks and ids first; a crash between steps loses no id and counts right', () => {
    const events = Array.from({ length: 10 }, () => taggedEvent());
    store.insertMany(events.slice(0, 5), 0);
    store.insertMany(events.slice(5), 1);
    events.slice(0, 6).forEach((e, i) => assert.equal(store.markSynced(e.localEventId, `c-${i}`, 2), 'synced'));
    store.settle(4); // four acks and four ids; the rest waits
    assert.deepEqual(store.buffered.entries, 2 + 6);
    const other = new Database(db.name, { readonly: true });
    try {
      const synced = other.prepare(`SELECT local_event_id AS id FROM events WHERE sync_state = 'synced' ORDER BY seq`).pluck().all();
      assert.deepEqual(
        synced,
        events.slice(0, 4).map((e) => e.localEventId),
        'the oldest four acks',
      );
      assert.equal(other.prepare('SELECT COUNT(*) FROM event_ids').pluck().get(), 4, 'the oldest four ids');
    } finally {
      other.close();
    }
    // A crash before the next step.
    const file = db.name;
    db.close();
    db = openDatabase(file);
    store = new EventLog(db);
    assert.deepEqual({ ...store.counts(), oldestPendingStoredAt: null }, { pending: 6, failed: 0, synced: 4, oldestPendingStoredAt: null });
    assert.deepEqual(
      store.pendingPage(0, 20).map((r) => r.localEventId),
      events.slice(4).map((e) => e.localEventId),
      'the acks not written go again',
    );
    assert.deepEqual(
      store.insertMany(events, 3),
      events.map(() => false),
      'every id is known: four from event_ids, six read back from the table',
    );
  });

  it('keeps acks in memory until settled, then writes them without an fsync; weighings after them are still committed FULL', () => {
    const [a, b, c] = [taggedEvent(), taggedEvent(), taggedEvent()];
    store.insertMany([a, b], 0);
    assert.equal(store.markSynced(a.localEventId, 'c-a', 5), 'synced');
    assert.equal(store.markSynced(a.localEventId, 'c-a', 5), 'already');
    assert.equal(store.markSynced('nope', null, 5), 'unknown');
    assert.deepEqual(store.counts().pending, 1, 'counted as synced at once');
    assert.deepEqual(
      store.pendingPage(0, 10).map((r) => r.localEventId),
      [b.localEventId],
      'and not sent again',
    );
    const other = new Database(db.name, { readonly: true });
    const states = (): Array<{ id: string; s: string }> =>
      other.prepare('SELECT local_event_id AS id, sync_state AS s FROM events ORDER BY seq').all() as Array<{ id: string; s: string }>;
    try {
      assert.equal(states()[0].s, 'pending', 'not written yet');
      store.settle();
      assert.equal(db.pragma('synchronous', { simple: true }), 2, 'the connection is back to FULL for the next weighing');
      store.insertMany([c], 6);
      // A second connection sees what both commits wrote.
      assert.deepEqual(states(), [
        { id: a.localEventId, s: 'synced' },
        { id: b.localEventId, s: 'pending' },
        { id: c.localEventId, s: 'pending' },
      ]);
      assert.equal(store.markSynced(a.localEventId, 'c-a', 7), 'already', 'synced in the table');
    } finally {
      other.close();
    }
  });

  it('deletes synced events past retention in chunks, and only those', () => {
    const old = Array.from({ length: 30 }, () => taggedEvent());
    const fresh = taggedEvent();
    const unsynced = taggedEvent();
    store.insertMany([...old, fresh, unsynced], 0);
    for (const e of old) store.markSynced(e.localEventId, null, 1000);
    store.markSynced(fresh.localEventId, null, 50_000);
    assert.equal(store.deleteSyncedBefore(10_000, 20), 20);
    assert.equal(store.deleteSyncedBefore(10_000, 20), 10);
    assert.equal(store.deleteSyncedBefore(10_000, 20), 0);
    assert.deepEqual(
      store
        .recent()
        .map((r) => r.localEventId)
        .sort(),
      [fresh.localEventId, unsynced.localEventId].sort(),
    );
  });

  it('totals an offline batch from its rows', () => {
    store.insertMany(
      [
        taggedEvent({ offlineBatchId: 'b1', weightGrams: 1500 }),
        taggedEvent({ offlineBatchId: 'b1', weightGrams: 2500 }),
        taggedEvent({ offlineBatchId: 'b2', weightGrams: 9 }),
      ],
      0,
    );
    assert.deepEqual(store.batchTotals('b1'), { eventCount: 2, totalWeightGrams: 4000 });
    assert.deepEqual(store.batchTotals('none'), { eventCount: 0, totalWeightGrams: 0 });
  });

  it('writes a weighing to no index (the batch index holds batch rows, the failed index failed ones), and totals a batch from its own index', () => {
    const indexes = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name").pluck().all() as string[]
    ).sort();
    assert.deepEqual(indexes, ['events_batch', 'events_failed']);
    assert.doesNotMatch(String(db.prepare("SELECT sql FROM sqlite_master WHERE name = 'events'").pluck().get()), /AUTOINCREMENT/, 'no counter to rewrite');
    const plan = db.prepare('EXPLAIN QUERY PLAN SELECT COUNT(*), SUM(weight_grams) FROM events WHERE offline_batch_id = ?').all('b1') as Array<{
      detail: string;
    }>;
    assert.match(plan.map((p) => p.detail).join('; '), /USING INDEX events_batch/);
  });

  it('finds recent events by scale and session across a long history, a step at a time, newest first', () => {
    const old = taggedEvent({ deviceId: 'SCALE-07', cloudSessionId: 's-old' });
    store.insertMany([old], 0);
    // Three search steps of other scales' history after it, without writing 60,000 rows: one
    // row of another scale far ahead, and the next seqs go on from it.
    db.prepare(
      "INSERT INTO events (seq, local_event_id, device_id, weight_grams, received_at, payload, stored_at) VALUES (?, 'filler', 'SCALE-98', 1, '2026-01-01T00:00:00Z', '{}', 0)",
    ).run(3 * SEARCH_STEP);
    const recentOnes = Array.from({ length: 4 }, (_, i) => taggedEvent({ deviceId: i % 2 ? 'SCALE-07' : 'SCALE-02', cloudSessionId: `s-${i}` }));
    store.insertMany(recentOnes, 0);

    const steps = store.search({ deviceId: 'SCALE-07' });
    let yields = 0;
    let step = steps.next();
    for (; !step.done && yields < 100; step = steps.next()) yields++;
    assert.ok(step.done);
    assert.deepEqual(
      step.value.map((r) => r.localEventId),
      [recentOnes[3], recentOnes[1], old].map((e) => e.localEventId),
    );
    assert.ok(yields >= 3, `yielded ${yields} times between steps`);
    assert.deepEqual(
      store.recent({ cloudSessionId: 's-old' }).map((r) => r.localEventId),
      [old.localEventId],
    );
    assert.deepEqual(
      store.recent({ deviceId: 'SCALE-07', limit: 1 }).map((r) => r.localEventId),
      [recentOnes[3].localEventId],
      'the newest first, and the walk stops at the limit',
    );
    assert.deepEqual(store.recent({ deviceId: 'SCALE-99' }), []);
  });

  it('answers up to the limit the admin route allows, 10,000', () => {
    store.insertMany(
      Array.from({ length: 1500 }, () => taggedEvent()),
      0,
    );
    assert.equal(store.recent({ limit: 1200 }).length, 1200);
    assert.equal(store.recent({ deviceId: 'SCALE-01', limit: 1200 }).length, 1200);
    assert.equal(store.recent({ limit: 50_000 }).length, 1500);
  });

  it('refuses a whole group cleanly when the database is full, and takes writes again when space returns', () => {
    // A small filesystem cannot be mounted here without privileges, so SQLite's own
    // max_page_count caps the database size instead.
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 2}`);
    let stored = 0;
    let failure: (Error & { code?: string }) | null = null;
    for (let i = 0; i < 1000 && !failure; i++) {
      const group = Array.from({ length: 5 }, () => taggedEvent({ raw: 'x'.repeat(2000) }));
      try {
        store.insertMany(group, 0);
        stored += group.length;
      } catch (err) {
        failure = err as Error;
        // Nothing of the failed group was stored.
        for (const e of group)
          assert.equal(
            store.recent({ limit: 1000 }).some((r) => r.localEventId === e.localEventId),
            false,
          );
      }
    }
    assert.ok(failure, 'the capped database filled up');
    assert.equal(failure!.code, 'SQLITE_FULL');
    assert.equal(store.counts().pending, stored);
    db.pragma('max_page_count = 1073741823');
    const later = taggedEvent();
    assert.deepEqual(store.insertMany([later], 0), [true]);
    assert.equal(store.counts().pending, stored + 1);
  });
});

describe('the shared database pool', () => {
  const dirs = tempDirs();
  afterEach(() => dirs.cleanup());

  it('opens one connection per file and closes it exactly once, with the last lease', () => {
    const file = path.join(dirs.make(), 'site.db');
    const a = acquireDatabase(file);
    const b = acquireDatabase(file);
    assert.equal(a.db, b.db);
    assert.deepEqual(
      openDatabases().filter((o) => o.file === file),
      [{ file, leases: 2 }],
    );
    a.release();
    a.release(); // a second release of the same lease changes nothing
    assert.equal(b.db.open, true);
    b.release();
    assert.equal(b.db.open, false);
    assert.deepEqual(
      openDatabases().filter((o) => o.file === file),
      [],
    );
    // Migrations ran once: a fresh connection sees the current schema version.
    const check = new Database(file, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    check.close();
  });
});
