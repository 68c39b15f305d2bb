import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type SqliteDatabase = Database.Database;

/** Bytes the WAL file is cut back to when it starts over (journal_size_limit). */
export const WAL_SIZE_LIMIT = 16 * 2 ** 20;
/**
 * Each connection's page cache, in KiB (SQLite's own default). better-sqlite3 builds SQLite
 * with 16 MB, which a busy store fills with pages it will not read again (weighings are
 * appended and read back once, at the tail): 14 MiB more resident memory for nothing on a
 * small gateway.
 */
export const PAGE_CACHE_KIB = 2000;

/** `full`: every commit survives a power cut (the default: power cuts are normal in plants). */
export type Durability = 'full' | 'normal';

/** The events table's columns after seq and local_event_id, the same since migration 1 (migration 4 copies them). */
const EVENT_COLUMNS = `
    device_id         TEXT NOT NULL,
    global_device_id  TEXT,
    cloud_session_id  TEXT,
    offline_batch_id  TEXT,
    offline_mode      INTEGER NOT NULL DEFAULT 0,
    plu_code          TEXT,
    weight_grams      INTEGER NOT NULL,
    scale_timestamp   TEXT,
    received_at       TEXT NOT NULL,
    raw               TEXT,
    payload           TEXT NOT NULL,
    sync_state        TEXT NOT NULL DEFAULT 'pending' CHECK (sync_state IN ('pending', 'synced', 'failed')),
    cloud_event_id    TEXT,
    fail_reason       TEXT,
    synced_at         INTEGER,
    stored_at         INTEGER NOT NULL
`;

/**
 * Versioned migrations: migration i brings `PRAGMA user_version` from i to i + 1.
 * Events carry no foreign keys: a real weighing must never be refused for a missing
 * parent row (the earlier daemon lost events that way).
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE events (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    local_event_id    TEXT NOT NULL UNIQUE,
${EVENT_COLUMNS}  );
  CREATE INDEX events_state_seq ON events (sync_state, seq);
  CREATE INDEX events_device_seq ON events (device_id, seq);
  CREATE INDEX events_session ON events (cloud_session_id);
  CREATE INDEX events_batch ON events (offline_batch_id);
  CREATE INDEX events_synced_at ON events (synced_at) WHERE sync_state = 'synced';

  CREATE TABLE sessions (
    device_id         TEXT PRIMARY KEY,
    cloud_session_id  TEXT NOT NULL,
    animal_id         TEXT,
    animal_tag        TEXT,
    animal_species    TEXT,
    operator_id       TEXT,
    status            TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    started_at        TEXT,
    updated_at        INTEGER NOT NULL,
    payload           TEXT NOT NULL
  );

  CREATE TABLE offline_batches (
    batch_id          TEXT PRIMARY KEY,
    device_id         TEXT NOT NULL,
    cloud_session_id  TEXT,
    reason            TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    ended_at          TEXT,
    end_reason        TEXT,
    start_sent_at     INTEGER,
    end_sent_at       INTEGER
  );
  CREATE UNIQUE INDEX offline_batches_one_open ON offline_batches (device_id) WHERE ended_at IS NULL;

  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 2: the PLU catalogue of plu-out
  `
  CREATE TABLE plu_items (
    plu_code    INTEGER PRIMARY KEY,
    item        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
  );
  `,
  // 3: the indexes a weighing writes to, cut to those that cost one page per group. With many
  // scales weighing at once, each index keyed by scale or session is written in as many places
  // as there are scales: one more 4 KiB page in the WAL per weighing per such index, about half
  // of what storing a weighing cost. Only the admin search read them (EventLog.search walks back
  // by seq instead). Online events carry no batch id, so the batch index leaves them out.
  `
  DROP INDEX events_device_seq;
  DROP INDEX events_session;
  DROP INDEX events_batch;
  CREATE INDEX events_batch ON events (offline_batch_id) WHERE offline_batch_id IS NOT NULL;
  `,
  // 4: a weighing writes one page: the tail of the events table, nothing else. Gone from the
  // insert: AUTOINCREMENT (it rewrote sqlite_sequence with every commit; retention keeps the
  // newest row, so a seq is never given twice), the unique index on local_event_id (its tail
  // page with every commit; the ids go to event_ids later, in groups, see EventBookkeeping),
  // the (sync_state, seq) index (an insert added to it, an ack moved the entry; pending rows
  // are found from a low-water mark by seq) and the synced_at index (retention walks by seq).
  // Failed events, which are few, keep an index of their own. The table is copied once.
  `
  CREATE TABLE events_v4 (
    seq               INTEGER PRIMARY KEY,
    local_event_id    TEXT NOT NULL,
${EVENT_COLUMNS}  );
  INSERT INTO events_v4 SELECT seq, local_event_id, device_id, global_device_id, cloud_session_id, offline_batch_id,
    offline_mode, plu_code, weight_grams, scale_timestamp, received_at, raw, payload, sync_state, cloud_event_id,
    fail_reason, synced_at, stored_at FROM events ORDER BY seq;
  DROP TABLE events;
  ALTER TABLE events_v4 RENAME TO events;
  CREATE INDEX events_batch ON events (offline_batch_id) WHERE offline_batch_id IS NOT NULL;
  CREATE INDEX events_failed ON events (seq) WHERE sync_state = 'failed';
  CREATE TABLE event_ids (
    local_event_id  TEXT PRIMARY KEY,
    seq             INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO event_ids SELECT local_event_id, seq FROM events;
  CREATE TABLE event_marks (
    key    TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO event_marks VALUES
    ('ids_through', (SELECT COALESCE(MAX(seq), 0) FROM events)),
    ('pending_from', COALESCE((SELECT MIN(seq) FROM events WHERE sync_state = 'pending'), (SELECT COALESCE(MAX(seq), 0) + 1 FROM events))),
    ('synced', (SELECT COUNT(*) FROM events WHERE sync_state = 'synced'));
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the schema to `to` (this package's version unless a test builds an earlier one). */
export function migrate(db: SqliteDatabase, to = MIGRATIONS.length): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this package knows (${MIGRATIONS.length}): upgrade the package`);
  }
  for (let v = current; v < to; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/**
 * Creates `dir` and its missing parents, one level at a time. Not `fs.mkdirSync(dir,
 * { recursive: true })`: under a file system that answers ENOENT for a directory whose parent
 * exists (/proc, /sys), Node's recursive mkdir retries for ever at 100% CPU, blocking the event
 * loop so that not even SIGINT gets through. Here each level is tried once and any refusal is an
 * error naming the folder.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw folderError(d, e as NodeJS.ErrnoException);
    }
    if (st) {
      if (!st.isDirectory()) throw new Error(`cannot create folder ${dir}: ${d} is not a folder`);
      break;
    }
    missing.push(d);
    if (path.dirname(d) === d) break; // a root that does not exist
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(d).isDirectory()) continue;
      throw folderError(d, e as NodeJS.ErrnoException);
    }
  }
}

function folderError(d: string, e: NodeJS.ErrnoException): Error {
  const err = new Error(`cannot create folder ${d} (${e.code ?? e.message})`) as NodeJS.ErrnoException;
  err.code = e.code;
  return err;
}

/**
 * Errors that say the disk (or the file system under the database) failed, not the SQL: the
 * connection is then not trusted any more and is opened again. SQLite's I/O errors
 * (SQLITE_IOERR and its extended codes: a read, write, fsync or lock that the OS refused),
 * SQLITE_CANTOPEN (the file or its folder went away), SQLITE_CORRUPT and SQLITE_NOTADB (what a
 * connection reads after a torn write or a vanished mount; opening again re-reads the file and
 * its WAL, whose checksums drop a torn tail), SQLITE_READONLY* (a file system remounted
 * read-only after errors, as ext4 does on a failing SD card), and the OS's EIO, ENOTCONN (a
 * FUSE or network disk whose server is gone), ENXIO, ENODEV, ESTALE, EROFS. Not SQLITE_FULL:
 * a full disk is handled where it happens (the write is refused, the connection is fine).
 */
export function isDiskFault(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return (
    code.startsWith('SQLITE_IOERR') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_CORRUPT') ||
    code === 'SQLITE_NOTADB' ||
    code.startsWith('SQLITE_READONLY') ||
    DISK_ERRNOS.has(code)
  );
}

const DISK_ERRNOS = new Set(['EIO', 'ENOTCONN', 'ECONNABORTED', 'ENXIO', 'ENODEV', 'ESTALE', 'EROFS']);

/**
 * Opens (creating the file and its folder when missing) and migrates a site database.
 * `mustExist`: open only a file that is there. A reopen after a disk fault uses it: a disk that
 * is not mounted again yet leaves an empty mount-point folder behind, and a new empty database
 * made there would take the weighings while the real one is away (and be hidden by the mount).
 */
export function openDatabase(file: string, durability: Durability = 'full', mustExist = false): SqliteDatabase {
  if (mustExist) {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      const err = new Error(`the database file ${file} is not there (${(e as NodeJS.ErrnoException).code}): is its disk mounted?`) as NodeJS.ErrnoException;
      err.code = 'SQLITE_CANTOPEN';
      throw err;
    }
    if (!st.isFile()) throw new Error(`${file} is not a file`);
  } else makeDirectory(path.dirname(file));
  const db = new Database(file, { timeout: 5000, fileMustExist: mustExist });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = OFF');
    db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    // SQLite's automatic checkpoint runs inside a commit, on the event loop, with fsyncs of
    // its own: the event store turns it off and runs them on a worker thread instead (see
    // lib/db/checkpointer.ts). The WAL file is cut back to 16 MiB when it starts over.
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    if (mustExist) {
      // A reopen after a disk fault. After a failed fsync the kernel may keep pages it could not
      // write in its cache, marked clean: this connection would read those WAL frames as good
      // and append new commits after a hole on disk. Copying the whole WAL into the database
      // file and fsyncing it now (then emptying the WAL) puts what is read on disk before any
      // new commit; if that cannot be done the disk is not back, and the reopen is tried again.
      const r = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
      if (r[0] && (r[0].busy !== 0 || r[0].log !== r[0].checkpointed)) {
        const err = new Error(
          `the write-ahead log of ${file} could not be copied into the database (busy ${r[0].busy}, ${r[0].checkpointed} of ${r[0].log} pages)`,
        ) as NodeJS.ErrnoException;
        err.code = 'SQLITE_IOERR';
        throw err;
      }
    }
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Runs `work` (one transaction) without waiting for the disk: synchronous=NORMAL for this
 * commit only. For writes whose loss in a power cut costs a repeat, never data: an ack that
 * did not reach the disk makes the event go out again and the Cloud answers it as a
 * duplicate. WAL frames are replayed in order, so the next FULL commit (a weighing) makes
 * these durable too, and nothing committed FULL before is weakened.
 */
export function withoutFsync<T>(db: SqliteDatabase, work: () => T): T {
  const sync = synchronousPragmas(db);
  const level = sync.read.get() as number;
  if (level <= 1 || db.inTransaction) return work();
  sync.set(1).run();
  try {
    return work();
  } finally {
    sync.set(level).run();
  }
}

/**
 * The synchronous pragma as prepared statements, once per connection: withoutFsync runs on
 * every group of weighings and acks, and db.pragma() prepares its statement anew each call.
 */
const synchronous = new WeakMap<SqliteDatabase, { read: Database.Statement; set(level: number): Database.Statement }>();

function synchronousPragmas(db: SqliteDatabase): { read: Database.Statement; set(level: number): Database.Statement } {
  let s = synchronous.get(db);
  if (!s) {
    const setters = new Map<number, Database.Statement>();
    s = {
      read: db.prepare('PRAGMA synchronous').pluck(),
      set(level: number) {
        let st = setters.get(level);
        if (!st) setters.set(level, (st = db.prepare(`PRAGMA synchronous = ${Math.trunc(level)}`)));
        return st;
      },
    };
    synchronous.set(db, s);
  }
  return s;
}

/** Small persistent key/value settings (the Cloud-assigned edge id, for one). */
export function getSetting(db: SqliteDatabase, key: string): string | null {
  const row = db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value ?? null;
}

export function setSetting(db: SqliteDatabase, key: string, value: string): void {
  db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}
