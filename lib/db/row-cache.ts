import type { SqliteDatabase } from './database';

/** A site has at most 99 scales a gateway; far more keys means something else is sending. */
const MAX_ROWS = 10_000;

/**
 * Rows read on every weighing (a device's session, its open offline batch), kept in memory
 * per database connection so that every user of that connection sees the same copy.
 *
 * Read-through, drop-on-write: a lookup that misses reads the database and keeps the row
 * (or its absence); every write to such a row drops the entry, so the next lookup reads
 * what was committed. Dropping instead of updating keeps the cache right when the write's
 * transaction rolls back. The database stays the truth; the cache only saves the reads.
 */
export class RowCache<V> {
  private readonly rows = new Map<string, V | null>();

  constructor(private readonly db: SqliteDatabase) {}

  get(key: string, read: () => V | null): V | null {
    const hit = this.rows.get(key);
    if (hit !== undefined) return hit;
    const row = read();
    // A read inside a transaction may see rows that roll back: use it, do not keep it.
    if (this.db.inTransaction) return row;
    // Bounded: a flow that sends events for ever new device ids must not grow it without end.
    if (this.rows.size >= MAX_ROWS) this.rows.clear();
    this.rows.set(key, row);
    return row;
  }

  /** The row of `key` was written (or may have been): read it again next time. */
  drop(key: string): void {
    this.rows.delete(key);
  }

  clear(): void {
    this.rows.clear();
  }

  get size(): number {
    return this.rows.size;
  }
}

const caches = new WeakMap<SqliteDatabase, Map<string, RowCache<unknown>>>();

/** The cache named `name` of this connection (one per connection and name). */
export function rowCache<V>(db: SqliteDatabase, name: string): RowCache<V> {
  let byName = caches.get(db);
  if (!byName) {
    byName = new Map();
    caches.set(db, byName);
  }
  let cache = byName.get(name);
  if (!cache) {
    cache = new RowCache<unknown>(db);
    byName.set(name, cache);
  }
  return cache as RowCache<V>;
}
