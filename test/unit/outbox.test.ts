import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { openDatabase, type SqliteDatabase } from '../../lib/db/database';
import { EventLog } from '../../lib/store/event-log';
import { Outbox } from '../../lib/store/outbox';
import { tempDirs, taggedEvent } from '../helpers/temp';

describe('Outbox (backlog drain within the in-flight window)', () => {
  const dirs = tempDirs();
  let db: SqliteDatabase;
  let store: EventLog;

  beforeEach(() => {
    db = openDatabase(path.join(dirs.make(), 'site.db'), 'normal');
    store = new EventLog(db);
  });
  afterEach(() => {
    db.close();
    dirs.cleanup();
  });

  it('sends nothing while disconnected and at most the window when connected', () => {
    store.insertMany(
      Array.from({ length: 250 }, () => taggedEvent()),
      0,
    );
    const box = new Outbox(store, { batchSize: 40, window: 100, ackTimeoutMs: 30_000 });
    assert.deepEqual(box.take(0), []);
    box.setConnected(true);
    const pages = box.take(0);
    assert.deepEqual(
      pages.map((p) => p.length),
      [40, 40, 20],
    );
    assert.equal(box.inFlight, 100);
    assert.deepEqual(box.take(0), []);
  });

  it('resends what was not acknowledged in time, and what was in flight at a disconnect', () => {
    const events = Array.from({ length: 5 }, () => taggedEvent());
    store.insertMany(events, 0);
    const box = new Outbox(store, { batchSize: 10, window: 10, ackTimeoutMs: 1000 });
    box.setConnected(true);
    assert.equal(box.take(0)[0].length, 5);
    store.markSynced(events[0].localEventId, null, 10);
    box.settled(events[0].localEventId, 10);
    assert.equal(box.expire(999), 0);
    assert.equal(box.expire(1000), 4);
    assert.deepEqual(
      box.take(1000)[0].map((r) => r.localEventId),
      events.slice(1).map((e) => e.localEventId),
    );
    box.setConnected(false);
    assert.equal(box.inFlight, 0);
    box.setConnected(true);
    assert.equal(box.take(2000)[0].length, 4);
  });

  it('sends rows just stored from memory once the backlog is drained, and reads the database again whenever it cannot be sure', () => {
    const box = new Outbox(store, { batchSize: 5, window: 10, ackTimeoutMs: 1000 });
    let reads = 0;
    const pendingPage = store.pendingPage.bind(store);
    store.pendingPage = (after, limit) => {
      reads++;
      return pendingPage(after, limit);
    };
    const write = (n: number) => {
      const events = Array.from({ length: n }, () => taggedEvent());
      return store.writeGroup(events, 0).map((seq, i) => ({ seq: seq!, localEventId: events[i].localEventId, deviceId: events[i].deviceId, event: events[i] }));
    };
    const first = write(3);
    box.setConnected(true);
    assert.equal(box.take(0)[0].length, 3);
    assert.equal(reads, 1, 'the backlog is read (and found drained)');
    const fresh = write(4);
    assert.deepEqual(
      box.take(0, fresh).map((p) => p.map((r) => r.localEventId)),
      [fresh.map((r) => r.localEventId)],
    );
    assert.equal(reads, 1, 'the rows just stored went out without a read');
    // No room for a page (7 of 10 in flight): the rows offered stay in the database.
    const over = write(8);
    assert.deepEqual(box.take(0, over), []);
    for (const r of [...first, ...fresh]) box.settled(r.localEventId, 1);
    assert.deepEqual(
      box.take(1).map((p) => p.map((r) => r.localEventId)),
      [over.slice(0, 5).map((r) => r.localEventId), over.slice(5).map((r) => r.localEventId)],
    );
    assert.equal(reads, 3, 'read back from the database, two pages');
    // After an expiry the cursor moves back: the database again, even with rows offered.
    assert.equal(box.expire(5000), 8);
    const more = write(1);
    assert.deepEqual(
      box
        .take(5000, more)
        .flat()
        .map((r) => r.localEventId),
      [...over, ...more].map((r) => r.localEventId),
    );
    assert.equal(reads, 5);
  });
});
