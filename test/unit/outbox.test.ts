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
});
