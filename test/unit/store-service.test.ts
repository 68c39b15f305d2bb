import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase, type SqliteDatabase } from '../../lib/store/database';
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
    svc = new StoreService(db, { siteId: 'SITE01', batchSize: 100, window: 1000, ackTimeoutMs: 30_000, retentionDays: 30, minFreeDiskBytes: 0, maxPendingAgeMs: 3_600_000 });
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
    assert.deepEqual(sent.map((m) => [m.topic, (m.payload.events as unknown[]).length]), [['event_batch', 100], ['event_batch', 50]]);
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
    const alarmed = new StoreService(db, { siteId: 'S', batchSize: 1, window: 1, ackTimeoutMs: 1, retentionDays: 1, minFreeDiskBytes: Number.MAX_SAFE_INTEGER, maxPendingAgeMs: 60_000, now: () => now + 3_600_000 });
    alarmed.store.insertMany([taggedEvent()], now);
    const fig = alarmed.figures();
    assert.equal(fig.alarms.length, 2);
    assert.match(fig.alarms[0], /free disk/);
    assert.match(fig.alarms[1], /oldest unsent event is 60 min old/);
    assert.ok(fig.databaseBytes > 0);
  });
});
