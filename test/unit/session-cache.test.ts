import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { openDatabase, type SqliteDatabase } from '../../lib/db/database';
import { SessionCache } from '../../lib/sessions/session-cache';
import { rowCache } from '../../lib/db/row-cache';
import { tempDirs } from '../helpers/temp';
import { ManualClock } from '../helpers/clock';

const HOUR = 3_600_000;
const started = (deviceId: string, id: string, extra: Record<string, unknown> = {}) => ({
  cloudSessionId: id,
  deviceId,
  animalId: `animal-${id}`,
  animalTag: `A-${id}`,
  animalSpecies: 'Dana',
  operatorId: 'op-1',
  ...extra,
});

describe('SessionCache (tagging and offline batches) on a real SQLite file', () => {
  const dirs = tempDirs();
  let file: string;
  let db: SqliteDatabase;
  let cache: SessionCache;
  const make = () => new SessionCache(db, { siteId: 'SITE01', expiryMs: 12 * HOUR });

  beforeEach(() => {
    file = path.join(dirs.make(), 'site.db');
    db = openDatabase(file);
    cache = make();
  });
  afterEach(() => {
    if (db.open) db.close();
    dirs.cleanup();
  });

  it('tags with the session while the Cloud is reachable: no batch', () => {
    cache.setCloudReachable(true, 0);
    cache.apply('session_started', started('SCALE-01', 's1'), 0);
    const { tags, messages } = cache.tag('SCALE-01', 1000);
    assert.deepEqual(messages, []);
    assert.deepEqual(tags, {
      globalDeviceId: 'SITE01-SCALE-01',
      cloudSessionId: 's1',
      animalId: 'animal-s1',
      animalTag: 'A-s1',
      animalSpecies: 'Dana',
      operatorId: 'op-1',
      sessionStatus: 'active',
      offlineMode: false,
      offlineBatchId: null,
    });
  });

  it('accepts sessionId as an alias, keeps tagging a paused session, and ignores late messages about an older session', () => {
    cache.setCloudReachable(true, 0);
    cache.apply('session_started', { sessionId: 's1', deviceId: 'SCALE-01' }, 0);
    cache.apply('session_paused', { sessionId: 's1', deviceId: 'SCALE-01' }, 1);
    assert.equal(cache.tag('SCALE-01', 2).tags.sessionStatus, 'paused');
    assert.equal(cache.tag('SCALE-01', 2).tags.cloudSessionId, 's1');
    cache.apply('session_started', started('SCALE-01', 's2'), 3);
    cache.apply('session_ended', { cloudSessionId: 's1', deviceId: 'SCALE-01' }, 4);
    assert.equal(cache.tag('SCALE-01', 5).tags.cloudSessionId, 's2');
    cache.apply('session_ended', { cloudSessionId: 's2' }, 6);
    assert.equal(cache.tag('SCALE-01', 7).tags.cloudSessionId, null);
  });

  it('names the missing field of a bad session message', () => {
    assert.match(cache.apply('session_started', { deviceId: 'SCALE-01' }, 0).error!, /cloudSessionId/);
    assert.match(cache.apply('session_started', { cloudSessionId: 's' }, 0).error!, /deviceId/);
  });

  it('opens one batch per device while the Cloud is away, keeps the cached session id, and closes all on reconnect', () => {
    cache.apply('session_started', started('SCALE-01', 's1'), 0);
    const a1 = cache.tag('SCALE-01', 10);
    const b1 = cache.tag('SCALE-02', 11);
    const a2 = cache.tag('SCALE-01', 12);
    assert.equal(a1.messages[0].topic, 'offline_batch_start');
    assert.equal(b1.messages[0].topic, 'offline_batch_start');
    assert.deepEqual(a2.messages, []);
    assert.equal(a1.tags.offlineBatchId, a2.tags.offlineBatchId);
    assert.notEqual(a1.tags.offlineBatchId, b1.tags.offlineBatchId);
    assert.equal(a1.tags.offlineMode, true);
    assert.equal(a1.tags.cloudSessionId, 's1');
    assert.equal(b1.tags.cloudSessionId, null);
    const ends = cache.setCloudReachable(true, 20);
    assert.deepEqual(
      ends.map((m) => [m.topic, m.payload.batchId, m.payload.endReason]).sort(),
      [
        ['offline_batch_end', a1.tags.offlineBatchId, 'cloud-reconnected'],
        ['offline_batch_end', b1.tags.offlineBatchId, 'cloud-reconnected'],
      ].sort(),
    );
    assert.equal(cache.tag('SCALE-01', 30).tags.offlineBatchId, null);
  });

  it('gives a device without a session a batch, and closes it when a session starts there', () => {
    cache.setCloudReachable(true, 0);
    const t = cache.tag('SCALE-03', 1);
    assert.equal(t.tags.offlineMode, false);
    assert.ok(t.tags.offlineBatchId);
    assert.equal(t.messages[0].payload.reason, 'no-session');
    const r = cache.apply('session_started', started('SCALE-03', 's9'), 2);
    assert.deepEqual(
      r.messages.map((m) => [m.topic, m.payload.batchId, m.payload.endReason]),
      [['offline_batch_end', t.tags.offlineBatchId, 'session-started']],
    );
  });

  it('keeps sessions and open batches across a restart', () => {
    cache.apply('session_started', started('SCALE-01', 's1'), 0);
    const before = cache.tag('SCALE-01', 1).tags.offlineBatchId;
    db.close();
    db = openDatabase(file);
    cache = make();
    const after = cache.tag('SCALE-01', 2);
    assert.equal(after.tags.cloudSessionId, 's1');
    assert.equal(after.tags.offlineBatchId, before);
    assert.deepEqual(after.messages, []);
  });

  it('stops using a session not updated for longer than the expiry, and says which', () => {
    const clock = new ManualClock();
    cache = new SessionCache(db, { siteId: 'SITE01', expiryMs: 12 * HOUR, clock });
    cache.setCloudReachable(true, clock.wall());
    cache.apply('session_started', started('SCALE-01', 's1'), clock.wall());
    clock.advance(12 * HOUR);
    assert.equal(cache.tag('SCALE-01', clock.wall()).tags.cloudSessionId, 's1');
    clock.advance(1);
    const late = cache.tag('SCALE-01', clock.wall());
    assert.equal(late.tags.cloudSessionId, null);
    assert.equal(late.expired?.cloudSessionId, 's1');
  });

  it('keeps a session through a step of the gateway clock and ends it on time all the same (expiry runs on the monotonic clock)', () => {
    const clock = new ManualClock();
    cache = new SessionCache(db, { siteId: 'SITE01', expiryMs: 12 * HOUR, clock });
    cache.setCloudReachable(true, clock.wall());
    cache.apply('session_started', started('SCALE-01', 's1'), clock.wall());
    cache.apply('session_started', started('SCALE-02', 's2'), clock.wall());
    assert.equal(cache.tag('SCALE-02', clock.wall()).tags.cloudSessionId, 's2', 'SCALE-02 seen before the step');
    // NTP (or a person) moves the clock a day ahead: nothing has aged.
    clock.stepWall(24 * HOUR);
    assert.equal(cache.tag('SCALE-01', clock.wall()).tags.cloudSessionId, 's1');
    assert.equal(cache.tag('SCALE-02', clock.wall()).tags.cloudSessionId, 's2');
    assert.deepEqual(
      cache.sessions(clock.wall()).map((x) => x.cloudSessionId),
      ['s1', 's2'],
    );
    // And back two days: the sessions still end 12 h after the Cloud last updated them.
    clock.stepWall(-48 * HOUR);
    clock.advance(12 * HOUR + 1);
    assert.equal(cache.tag('SCALE-01', clock.wall()).expired?.cloudSessionId, 's1');
    assert.deepEqual(cache.sessions(clock.wall()), []);
  });

  it('still ends a session on time across a restart (its age is read from the database once)', () => {
    const clock = new ManualClock();
    cache = new SessionCache(db, { siteId: 'SITE01', expiryMs: 12 * HOUR, clock });
    cache.apply('session_started', started('SCALE-01', 's1'), clock.wall());
    cache.apply('session_started', started('SCALE-02', 's2'), clock.wall());
    db.close();
    // Node-RED restarts 11 h later: a new process, a new monotonic clock.
    clock.advance(11 * HOUR);
    const after = new ManualClock(clock.wall());
    db = openDatabase(file);
    cache = new SessionCache(db, { siteId: 'SITE01', expiryMs: 12 * HOUR, clock: after });
    cache.setCloudReachable(true, after.wall());
    assert.equal(cache.tag('SCALE-01', after.wall()).tags.cloudSessionId, 's1', '11 h old: still in use');
    after.advance(HOUR + 1);
    assert.equal(cache.tag('SCALE-01', after.wall()).expired?.cloudSessionId, 's1', '12 h and 1 ms old: expired');
    assert.deepEqual(cache.sessions(after.wall()), [], 'SCALE-02, first read after the restart, is as old');
  });

  it('keeps two session caches on one site database in step (sessions and open batches are held once per connection)', () => {
    const other = make();
    cache.setCloudReachable(true, 0);
    other.setCloudReachable(true, 0);
    // Read (and so cached) by one before the other changes it.
    const t = other.tag('SCALE-04', 1);
    assert.ok(t.tags.offlineBatchId);
    assert.equal(other.tag('SCALE-04', 2).tags.cloudSessionId, null);
    cache.apply('session_started', started('SCALE-04', 's4'), 3);
    const after = other.tag('SCALE-04', 4);
    assert.equal(after.tags.cloudSessionId, 's4');
    assert.equal(after.tags.offlineBatchId, null, 'the batch the other cache opened was closed when the session started');
    cache.apply('session_ended', { deviceId: 'SCALE-04', cloudSessionId: 's4' }, 5);
    assert.equal(other.tag('SCALE-04', 6).tags.cloudSessionId, null);
  });

  it('reads the database again after a write whose transaction rolled back', () => {
    cache.setCloudReachable(true, 0);
    cache.apply('session_started', started('SCALE-05', 's5'), 0);
    assert.equal(cache.tag('SCALE-05', 1).tags.cloudSessionId, 's5');
    // A session_ended inside a transaction that then fails: the session must still be there.
    assert.throws(() =>
      db.transaction(() => {
        cache.apply('session_ended', { deviceId: 'SCALE-05', cloudSessionId: 's5' }, 2);
        assert.equal(cache.tag('SCALE-05', 3).tags.cloudSessionId, null, 'inside the transaction it is gone');
        throw new Error('disk full (simulated)');
      })(),
    );
    assert.equal(cache.tag('SCALE-05', 4).tags.cloudSessionId, 's5');
  });

  it('keeps its memory bounded when events name ever new device ids', () => {
    cache.setCloudReachable(true, 0);
    for (let i = 0; i < 12_000; i++) cache.sessionFor(`DEV-${i}`, 1);
    assert.ok(rowCache(db, 'sessions.device').size <= 10_000);
    cache.apply('session_started', started('SCALE-06', 's6'), 2);
    assert.equal(cache.tag('SCALE-06', 3).tags.cloudSessionId, 's6', 'still right after the cache was emptied');
  });
});
