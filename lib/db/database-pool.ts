import * as path from 'node:path';
import { openDatabase, type Durability, type SqliteDatabase } from './database';

/**
 * One better-sqlite3 connection per database file, shared by every node of a site. Each
 * user holds a lease; the file is opened by the first lease and closed exactly once, when
 * the last lease is released. Node-RED closes the nodes of a redeploy in parallel, so the
 * config node and each user node hold their own lease.
 */
interface Entry {
  db: SqliteDatabase;
  leases: number;
  durability: Durability;
}

const open = new Map<string, Entry>();

export interface Lease {
  readonly db: SqliteDatabase;
  readonly file: string;
  release(): void;
}

export function acquireDatabase(file: string, durability: Durability = 'full'): Lease {
  const key = path.resolve(file);
  let entry = open.get(key);
  if (!entry) {
    entry = { db: openDatabase(key, durability), leases: 0, durability };
    open.set(key, entry);
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
    release() {
      if (released) return;
      released = true;
      if (--e.leases === 0) {
        open.delete(key);
        e.db.close();
      }
    },
  };
}

/** Files open right now and their lease counts (for tests and diagnostics). */
export function openDatabases(): Array<{ file: string; leases: number }> {
  return [...open].map(([file, e]) => ({ file, leases: e.leases }));
}
