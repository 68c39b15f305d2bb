import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase, type SqliteDatabase } from '../../lib/db/database';
import { StoreService, type CloudMessage } from '../../lib/store/store-service';
import { SETTLE_STEP } from '../../lib/store/event-log';
import { tempDirs, taggedEvent, storeOptions } from '../helpers/temp';

describe('StoreService', () => {
  const dirs = tempDirs();
  let db: SqliteDatabase;
  let svc: StoreService;
  let dir: string;

  beforeEach(() => {
    dir = dirs.make();
    db = openDatabase(path.join(dir, 'site.db'));
    svc = new StoreService(db, storeOptions({ siteId: 'SITE01' }));
  });
  afterEach(() => {
    svc.close();
    db.close();
    dirs.cleanup();
  });

  it('commits events that arrive together in one transaction (group commit)', async () => {
    let transactions = 0;
    const writeGroup = svc.log.writeGroup.bind(svc.log);
    svc.log.writeGroup = (...args) => {
      transactions++;
      return writeGroup(...args);
    };
    const results = await Promise.all(Array.from({ length: 50 }, () => svc.submit(taggedEvent())));
    assert.equal(results.filter(Boolean).length, 50);
    assert.equal(transactions, 1);
    assert.equal(svc.log.counts().pending, 50);
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
    alarmed.log.insertMany([taggedEvent()], now);
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

  it('writes no ack when it comes: a trickle of acks refills the window a page at a time, and nothing is written until the store is quiet', async () => {
    const db = openDatabase(path.join(dir, 'site.db'));
    const { svc, sent, ids } = await connectedWith(db, 1500);
    assert.deepEqual(
      sent.map((m) => m.topic),
      Array(10).fill('event_batch'),
      'the first 1,000 in pages of 100',
    );
    let settles = 0;
    const settle = svc.log.settle.bind(svc.log);
    svc.log.settle = () => {
      settles++;
      settle();
    };
    sent.length = 0;
    // A trickle of acks: no single-event frames go out while less than a page has room.
    for (const id of ids.slice(0, 50)) svc.ack({ localEventId: id, status: 'accepted' });
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 0, 'fifty free slots are less than a page: nothing sent yet');
    for (const id of ids.slice(50, 250)) svc.ack({ localEventId: id, status: 'duplicate' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      sent.map((m) => [m.topic, (m.payload.events as unknown[]).length]),
      [
        ['event_batch', 100],
        ['event_batch', 100],
        ['event_batch', 50],
      ],
    );
    assert.equal(svc.log.counts().synced, 250, 'counted at once');
    assert.equal(settles, 0, 'written later, in one go');
    const check = new Database(db.name, { readonly: true });
    const synced = (): number => (check.prepare(`SELECT COUNT(*) AS n FROM events WHERE sync_state = 'synced'`).get() as { n: number }).n;
    try {
      assert.equal(synced(), 0);
      svc.settleNow();
      assert.equal(settles, 1);
      assert.equal(synced(), 250, 'one transaction wrote them all');
    } finally {
      check.close();
    }
    svc.close();
    db.close();
  });

  it('writes the acks once the store is quiet (settleQuietMs), not in the commit of the weighings that arrive meanwhile', async () => {
    const file = path.join(dir, 'site.db');
    const db = openDatabase(file);
    const svc = new StoreService(db, { ...opts, settleQuietMs: 50 });
    const events = Array.from({ length: 30 }, () => taggedEvent());
    await Promise.all(events.map((e) => svc.submit(e)));
    svc.setConnected(true);
    const groups: number[] = [];
    const writeGroup = svc.log.writeGroup.bind(svc.log);
    svc.log.writeGroup = (...args) => {
      groups.push(args[0].length);
      return writeGroup(...args);
    };
    const fresh = Array.from({ length: 5 }, () => taggedEvent());
    const storing = Promise.all(fresh.map((e) => svc.submit(e)));
    for (const e of events) svc.ack({ localEventId: e.localEventId, cloudEventId: `c-${e.localEventId}`, status: 'accepted' });
    svc.ack({ localEventId: 'not-here' });
    assert.deepEqual(await storing, [true, true, true, true, true]);
    assert.deepEqual(groups, [5], 'the weighings alone');
    assert.equal(svc.totals.delivered, 30);
    assert.deepEqual({ ...svc.log.counts(), oldestPendingStoredAt: null }, { pending: 5, failed: 0, synced: 30, oldestPendingStoredAt: null });
    const check = new Database(file, { readonly: true });
    const synced = (): number => (check.prepare(`SELECT COUNT(*) AS n FROM events WHERE sync_state = 'synced'`).get() as { n: number }).n;
    try {
      assert.equal(synced(), 0, "not in the weighings' commit");
      for (let i = 0; i < 100 && synced() < 30; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(synced(), 30, 'written once the store was quiet');
    } finally {
      check.close();
    }
    svc.close();
    db.close();
  });

  it('writes many acks in steps of SETTLE_STEP, a step per event-loop turn, and weighings are stored between the steps', async () => {
    const file = path.join(dir, 'site.db');
    const db = openDatabase(file);
    const n = 3 * SETTLE_STEP;
    const { svc, ids } = await connectedWith(db, n);
    const check = new Database(file, { readonly: true });
    const synced = (): number => (check.prepare(`SELECT COUNT(*) AS n FROM events WHERE sync_state = 'synced'`).get() as { n: number }).n;
    const order: string[] = [];
    const writtenAtStep: number[] = [];
    const settle = svc.log.settle.bind(svc.log);
    let late: Promise<boolean> | null = null;
    svc.log.settle = (step?: number) => {
      settle(step);
      order.push('settle');
      writtenAtStep.push(synced());
      // A weighing comes while the settle is under way: it must not wait for the last step.
      late ??= svc.submit(taggedEvent());
    };
    const writeGroup = svc.log.writeGroup.bind(svc.log);
    svc.log.writeGroup = (...args) => {
      order.push('weighing');
      return writeGroup(...args);
    };
    try {
      for (const id of ids) svc.ack({ localEventId: id, status: 'accepted' });
      for (let i = 0; i < 250 && synced() < n; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(writtenAtStep, [SETTLE_STEP, 2 * SETTLE_STEP, n], 'one step at a time');
      assert.equal(await late, true);
      assert.ok(order.indexOf('weighing') < order.lastIndexOf('settle'), `the weighing was stored between the steps: ${order.join(' ')}`);
      assert.equal(svc.log.counts().synced, n);
    } finally {
      check.close();
      svc.close();
      db.close();
    }
  });

  it('still counts and writes the acks when the weighings that come with them cannot be stored', async () => {
    const file = path.join(dir, 'site.db');
    const db = openDatabase(file);
    const { svc, ids } = await connectedWith(db, 3);
    const writeGroup = svc.log.writeGroup.bind(svc.log);
    svc.log.writeGroup = (...args) => {
      if (args[0].length) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return writeGroup(...args);
    };
    const storing = svc.submit(taggedEvent());
    for (const id of ids) svc.ack({ localEventId: id, status: 'accepted' });
    await assert.rejects(storing, /not stored: disk or database full/);
    assert.equal(svc.log.counts().synced, 3);
    svc.close();
    db.close();
    const check = new Database(file, { readonly: true });
    assert.equal((check.prepare(`SELECT COUNT(*) AS n FROM events WHERE sync_state = 'synced'`).get() as { n: number }).n, 3);
    check.close();
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

  describe('durability: a weighing is reported stored only once its commit is on disk', () => {
    /** A store whose fsync the test answers by hand (a fault injected in place of the disk). */
    const heldStore = (durability: 'full' | 'normal' = 'full') => {
      const calls: Array<(err: NodeJS.ErrnoException | null) => void> = [];
      const file = path.join(dirs.make(), 'held.db');
      const db = openDatabase(file, durability);
      const s = new StoreService(db, { ...opts, fsync: (_fd, done) => calls.push(done) });
      return {
        calls,
        file,
        s,
        close: () => {
          s.close();
          db.close();
        },
      };
    };

    it('holds the answer until the fsync completes, and shares one fsync among the commits made meanwhile', async () => {
      const { calls, file, s, close } = heldStore();
      try {
        let answered = 0;
        const submit = (n: number) => Array.from({ length: n }, () => s.submit(taggedEvent()).then(() => answered++));
        const first = submit(10);
        s.flush(); // the group timer's work, now
        assert.equal(calls.length, 1, 'one fsync for the first group');
        assert.equal(answered, 0, 'not reported stored before the fsync');
        // Committed already: another connection reads the rows (in the WAL, not yet on disk).
        const reader = new Database(file, { readonly: true });
        assert.equal((reader.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n, 10);
        reader.close();
        // Two more groups while the first fsync runs: they wait for one fsync together.
        const more = submit(5);
        s.flush();
        const last = submit(5);
        s.flush();
        assert.equal(calls.length, 1);
        calls[0](null);
        await Promise.all(first);
        assert.equal(answered, 10, 'the first group only');
        assert.equal(calls.length, 2, 'the second fsync covers both later groups');
        calls[1](null);
        await Promise.all([...more, ...last]);
        assert.equal(answered, 20);
        assert.equal(s.totals.stored, 20);
      } finally {
        close();
      }
    });

    it('refuses the weighings of a failed fsync with the reason (the scale then keeps them and sends again)', async () => {
      const { calls, s, close } = heldStore();
      try {
        const p = s.submit(taggedEvent());
        s.flush();
        calls[0](Object.assign(new Error('Input/output error'), { code: 'EIO' }));
        await assert.rejects(p, /not confirmed on disk: the write-ahead log could not be synced to disk \(EIO\)/);
        assert.match(s.figures().alarms.join(), /last write failed: the write-ahead log could not be synced/);
        assert.equal(s.totals.stored, 0);
      } finally {
        close();
      }
    });

    it('syncs and answers on close what was still waiting for the disk', async () => {
      const { calls, s, close } = heldStore();
      const inFlight = s.submit(taggedEvent());
      s.flush();
      const queued = s.submit(taggedEvent());
      close(); // writes the queued one and fsyncs both itself, blocking
      assert.equal(await inFlight, true);
      assert.equal(await queued, true);
      calls[0](null); // the pool's fsync comes back late: answered already, nothing twice
      assert.equal(s.totals.stored, 2);
    });

    it('commits with the fsync inside when the database is not in WAL mode (a file system without it)', async () => {
      const file = path.join(dirs.make(), 'journal.db');
      const jdb = openDatabase(file);
      jdb.pragma('journal_mode = DELETE');
      let fsyncs = 0;
      const s = new StoreService(jdb, { ...opts, fsync: (_fd, done) => (fsyncs++, done(null)) });
      try {
        assert.equal(await s.submit(taggedEvent()), true);
        assert.equal(fsyncs, 0, 'no write-ahead log to sync: the commit did it');
        assert.equal(s.log.counts().pending, 1);
      } finally {
        s.close();
        jdb.close();
      }
    });

    it('answers at commit when the database was opened without fsyncs (durability normal)', async () => {
      const { calls, s, close } = heldStore('normal');
      try {
        assert.equal(await s.submit(taggedEvent()), true);
        assert.equal(calls.length, 0);
      } finally {
        close();
      }
    });
  });
});
