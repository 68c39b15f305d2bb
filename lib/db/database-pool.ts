import * as path from 'node:path';
import { openDatabase, type Durability, type SqliteDatabase } from './database';

/**
 * One better-sqlite3 connection per database file, shared by every node of a site. Each
 * user holds a lease; the file is opened by the first lease and closed exactly once, when
 * the last lease is released. Node-RED closes the nodes of a redeploy in parallel, so the
 * config node and each user node hold their own lease.
 *
 * A connection whose disk failed (see isDiskFault) is marked broken: it is closed at once (its
 * file handles on a dead disk or mount go with it), every lease on it is told, and the next
 * acquire of that file opens a new connection. Leases on the broken one stay valid to release.
 */
interface Entry {
  db: SqliteDatabase;
  leases: number;
  durability: Durability;
  broken: Error | null;
  listeners: Set<(err: Error) => void>;
}

const open = new Map<string, Entry>();
const entryOf = new WeakMap<SqliteDatabase, Entry>();

export interface Lease {
  readonly db: SqliteDatabase;
  readonly file: string;
  /** Why this lease's connection was given up (a disk fault), or null while it is good. */
  readonly broken: Error | null;
  /** Called once if the connection is marked broken; returns the function that unsubscribes. */
  onBroken(listener: (err: Error) => void): () => void;
  release(): void;
}

/** `mustExist`: when the file is not open yet, open it only if it is there (see openDatabase). */
export function acquireDatabase(file: string, durability: Durability = 'full', o: { mustExist?: boolean } = {}): Lease {
  const key = path.resolve(file);
  let entry = open.get(key);
  if (!entry) {
    entry = { db: openDatabase(key, durability, o.mustExist ?? false), leases: 0, durability, broken: null, listeners: new Set() };
    open.set(key, entry);
    entryOf.set(entry.db, entry);
  } else if (entry.durability !== durability) {
    // Two settings for one file: the stronger one wins.
    if (durability === 'full') {
      entry.db.pragma('synchronous = FULL');
      entry.durability = 'full';
    }
  }
  entry.leases++;
  const e = entry;
  let released = false;
  return {
    db: e.db,
    file: key,
    get broken() {
      return e.broken;
    },
    onBroken(listener) {
      e.listeners.add(listener);
      return () => e.listeners.delete(listener);
    },
    release() {
      if (released) return;
      released = true;
      if (--e.leases === 0 && !e.broken) {
        open.delete(key);
        e.db.close();
      }
    },
  };
}

/**
 * The disk under `db` failed: close the connection, tell every lease holder, and let the next
 * acquire open the file anew. Returns false when it was marked broken before (or is not pooled).
 */
export function markBroken(db: SqliteDatabase, err: Error): boolean {
  const e = entryOf.get(db);
  if (!e || e.broken) return false;
  e.broken = err;
  const key = path.resolve(db.name);
  if (open.get(key) === e) open.delete(key);
  try {
    e.db.close();
  } catch {
    /* a connection on a dead disk may fail to close cleanly: it is given up either way */
  }
  for (const l of [...e.listeners]) {
    try {
      l(err);
    } catch {
      /* one holder's trouble must not keep the others from hearing it */
    }
  }
  e.listeners.clear();
  return true;
}

/** Files open right now and their lease counts (for tests and diagnostics). */
export function openDatabases(): Array<{ file: string; leases: number }> {
  return [...open].map(([file, e]) => ({ file, leases: e.leases }));
}
