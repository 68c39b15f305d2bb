import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { isDiskFault, openDatabase } from '../../lib/db/database';
import { acquireDatabase, markBroken, openDatabases } from '../../lib/db/database-pool';
import { StoreService, type CloudMessage, type StoreServiceOptions } from '../../lib/store/store-service';
import type { Fsync } from '../../lib/db/wal-sync';
import { tempDirs, taggedEvent, storeOptions } from '../helpers/temp';

const opts: StoreServiceOptions = storeOptions({ siteId: 'SITE01' });

/** An error as better-sqlite3 throws it when the OS refuses a read (the code is what counts). */
const ioError = (): Error => new Database.SqliteError('disk I/O error', 'SQLITE_IOERR_READ');

const count = (file: string, where = '1'): number => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT COUNT(*) AS n FROM events WHERE ${where}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe('disk faults: what is a disk fault, and an unusable database path', () => {
  const dirs = tempDirs();
  afterEach(() => dirs.cleanup());

  it('tells disk faults (I/O, a vanished mount, a torn file) from SQL errors and a full disk', () => {
    const code = (c: string): Error => Object.assign(new Error(c), { code: c });
    for (const c of [
      'SQLITE_IOERR',
      'SQLITE_IOERR_WRITE',
      'SQLITE_IOERR_FSYNC',
      'SQLITE_CANTOPEN',
      'SQLITE_CORRUPT',
      'SQLITE_NOTADB',
      'SQLITE_READONLY',
      'EIO',
      'ENOTCONN',
      'ECONNABORTED',
      'EROFS',
    ])
      assert.equal(isDiskFault(code(c)), true, c);
    for (const c of ['SQLITE_FULL', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR', 'SQLITE_BUSY', 'ENOSPC', 'ENOENT'])
      assert.equal(isDiskFault(code(c)), false, c);
    assert.equal(isDiskFault(new Error('no code')), false);
    assert.equal(isDiskFault(null), false);
  });

  it('refuses a database path under /proc at once with the folder named, instead of spinning in a mkdir loop (child process, bounded)', function () {
    if (!fs.existsSync('/proc/self')) this.skip(); // Linux only
    // In a child process with a timeout: the bug was an endless loop that ignored SIGINT.
    const dist = path.resolve(__dirname, '../../lib/db/database.js');
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(dist)}).openDatabase('/proc/carnitrack/x.db')`], {
      encoding: 'utf8',
      timeout: 20_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(r.signal, null, 'ended by itself, not killed by the timeout');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cannot create folder \/proc\/carnitrack \(ENOENT\)/);
  });

  it('refuses a database path whose folder is a file, naming it', () => {
    const dir = dirs.make();
    fs.writeFileSync(path.join(dir, 'plain'), 'x');
    assert.throws(() => openDatabase(path.join(dir, 'plain', 'sub', 'x.db')), /cannot create folder .*plain\/sub \(ENOTDIR\)/);
    // The folders that can be made are made, as before.
    const db = openDatabase(path.join(dir, 'a', 'b', 'c', 'x.db'));
    db.close();
    assert.ok(fs.existsSync(path.join(dir, 'a', 'b', 'c', 'x.db')));
  });
});

describe('disk faults: the database pool gives up a broken connection', () => {
  const dirs = tempDirs();
  afterEach(() => dirs.cleanup());

  it('closes a connection marked broken, tells every lease, and opens the file anew on the next acquire', () => {
    const file = path.join(dirs.make(), 'site.db');
    const a = acquireDatabase(file);
    const b = acquireDatabase(file);
    assert.equal(a.db, b.db, 'one shared connection');
    const heard: string[] = [];
    a.onBroken((e) => heard.push(`a: ${e.message}`));
    b.onBroken((e) => heard.push(`b: ${e.message}`));
    assert.equal(markBroken(a.db, new Error('disk I/O error')), true);
    assert.equal(markBroken(a.db, new Error('again')), false, 'once');
    assert.deepEqual(heard, ['a: disk I/O error', 'b: disk I/O error']);
    assert.equal(a.db.open, false, 'closed at once: no file handle left on a dead disk');
    assert.equal(b.broken?.message, 'disk I/O error');
    const c = acquireDatabase(file);
    assert.notEqual(c.db, a.db);
    assert.equal(c.db.open, true);
    a.release();
    b.release(); // releasing leases of a broken connection closes nothing twice
    assert.deepEqual(
      openDatabases().filter((d) => d.file === file),
      [{ file, leases: 1 }],
    );
    c.release();
    assert.equal(openDatabases().filter((d) => d.file === file).length, 0);
  });

  it('opens only a file that is there when asked (a reopen must not make an empty database on an unmounted disk)', () => {
    const dir = dirs.make();
    const file = path.join(dir, 'mnt', 'site.db');
    assert.throws(() => acquireDatabase(file, 'full', { mustExist: true }), /is not there \(ENOENT\): is its disk mounted\?/);
    assert.equal(fs.existsSync(path.join(dir, 'mnt')), false, 'nothing created');
    acquireDatabase(file).release();
    const l = acquireDatabase(file, 'full', { mustExist: true });
    l.release();
  });
});

describe('disk faults: StoreService reports instead of throwing, and never OKs what failed', () => {
  const dirs = tempDirs();
  afterEach(() => dirs.cleanup());

  it('after a failed fsync refuses that group, the commits behind it and everything after, and reports one fault; what was OK before stays', async () => {
    const file = path.join(dirs.make(), 'site.db');
    const db = openDatabase(file);
    // A failing fsync cannot be made on a healthy disk: it is injected (StoreService takes `fsync`).
    const calls: Array<(err: NodeJS.ErrnoException | null) => void> = [];
    const fsync: Fsync = (_fd, done) => calls.push(done);
    const s = new StoreService(db, { ...opts, fsync });
    const faults: Error[] = [];
    s.on('fault', (e) => faults.push(e));
    try {
      const ok = s.submit(taggedEvent());
      s.flush();
      calls[0](null);
      assert.equal(await ok, true, 'the first weighing is on disk: OK');
      const failing = s.submit(taggedEvent());
      s.flush();
      const behind = s.submit(taggedEvent()); // committed while the failing fsync runs
      s.flush();
      assert.equal(calls.length, 2, 'the second waits for the running fsync');
      calls[1](Object.assign(new Error('Input/output error'), { code: 'EIO' }));
      await assert.rejects(failing, /not confirmed on disk: the write-ahead log could not be synced to disk \(EIO\)/);
      await assert.rejects(behind, /not confirmed on disk/);
      assert.equal(calls.length, 2, 'no fsync after the failure: the next one could lie');
      assert.equal(faults.length, 1);
      assert.equal(s.fault, faults[0]);
      await assert.rejects(s.submit(taggedEvent()), /not stored: the disk failed/);
      assert.equal(s.totals.stored, 1);
    } finally {
      s.close();
      db.close();
    }
    assert.equal(count(file, `sync_state = 'pending'`) >= 1, true, 'the OK one is there');
  });

  it('a backlog read failing on a timer is reported as a fault, not thrown (Outbox.take from pump)', async () => {
    const file = path.join(dirs.make(), 'site.db');
    const db = openDatabase(file);
    const s = new StoreService(db, opts);
    const faults: Error[] = [];
    s.on('fault', (e) => faults.push(e));
    try {
      await s.submit(taggedEvent());
      // A real read error cannot be made on a healthy disk: the read throws what SQLite throws
      // then (the LazyFS e2e test makes the real one).
      s.log.pendingPage = () => {
        throw ioError();
      };
      const sent: CloudMessage[] = [];
      s.on('cloud', (m) => sent.push(m));
      s.setConnected(true); // reads the backlog
      s.expireAcks(); // the timer's entry point
      assert.equal(faults.length, 1);
      assert.equal((faults[0] as Error & { code?: string }).code, 'SQLITE_IOERR_READ');
      assert.equal(sent.filter((m) => m.topic === 'event' || m.topic === 'event_batch').length, 0);
      await assert.rejects(s.submit(taggedEvent()), /not stored: the disk failed/);
    } finally {
      s.close();
      db.close();
    }
  });

  it('figures whose read fails show the last counts and the fault, and do not throw (EventLog.counts from the status timer)', async () => {
    const file = path.join(dirs.make(), 'site.db');
    const db = openDatabase(file);
    const s = new StoreService(db, opts);
    const faults: Error[] = [];
    s.on('fault', (e) => faults.push(e));
    try {
      await s.submit(taggedEvent());
      assert.equal(s.figures().pending, 1);
      s.log.counts = () => {
        throw ioError(); // injected, as above
      };
      const fig = s.quickFigures();
      assert.equal(fig.pending, 1, 'the last counts');
      assert.match(fig.alarms.join(), /last write failed: disk fault: disk I\/O error/);
      assert.equal(faults.length, 1);
    } finally {
      s.close();
      db.close();
    }
  });

  it('a connection given up underneath (marked broken) refuses the queued events on the group timer and reports, with no uncaught exception', async () => {
    const file = path.join(dirs.make(), 'site.db');
    const lease = acquireDatabase(file);
    const s = new StoreService(lease.db, opts);
    const faults: Error[] = [];
    s.on('fault', (e) => faults.push(e));
    try {
      assert.equal(await s.submit(taggedEvent()), true);
      s.setConnected(true);
      const queued = [s.submit(taggedEvent()), s.submit(taggedEvent())];
      markBroken(lease.db, new Error('disk I/O error')); // what another node does on its fault
      for (const q of queued) await assert.rejects(q, /not stored/);
      s.expireAcks();
      s.figures();
      s.settleNow();
      assert.equal(faults.length, 1);
    } finally {
      s.close();
      lease.release();
    }
    assert.equal(count(file), 1, 'the OK one only');
  });
});

describe('two event-stores on one database: one sender', () => {
  const dirs = tempDirs();
  afterEach(() => dirs.cleanup());

  it('only the first sends (the second says which one does), the first also sends what the second stored, and the second takes over when the first closes', async () => {
    const file = path.join(dirs.make(), 'site.db');
    const lease = acquireDatabase(file);
    const first = new StoreService(lease.db, { ...opts, name: 'store A' });
    const second = new StoreService(lease.db, { ...opts, name: 'store B' });
    const sentBy = { first: [] as string[], second: [] as string[] };
    const ids = (m: CloudMessage): string[] =>
      m.topic === 'event'
        ? [String(m.payload.localEventId)]
        : m.topic === 'event_batch'
          ? (m.payload.events as Array<{ localEventId: string }>).map((e) => e.localEventId)
          : [];
    first.on('cloud', (m) => sentBy.first.push(...ids(m)));
    second.on('cloud', (m) => sentBy.second.push(...ids(m)));
    try {
      assert.equal(first.isSender, true);
      assert.equal(second.isSender, false);
      assert.equal(second.sender, 'store A');
      assert.equal(first.sender, null);
      first.setConnected(true);
      second.setConnected(true);
      const a = taggedEvent();
      const b = taggedEvent();
      await first.submit(a);
      await second.submit(b);
      first.expireAcks(); // its timer: sends what the other stored
      second.expireAcks();
      assert.deepEqual(sentBy.first.sort(), [a.localEventId, b.localEventId].sort(), 'each event once, by the sender');
      assert.deepEqual(sentBy.second, []);
      first.close();
      assert.equal(second.isSender, true);
      assert.equal(second.sender, null);
      // Not acked yet: the new sender sends them from the table.
      assert.deepEqual(sentBy.second.sort(), [a.localEventId, b.localEventId].sort());
    } finally {
      first.close();
      second.close();
      lease.release();
    }
  });
});
