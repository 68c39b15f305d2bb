import type { SqliteDatabase } from '../db/database';
import type { PluItem } from './plu-format';

/** The PLU catalogue, kept in the site database so a restart keeps it. */
export class PluCatalog {
  private readonly stmt;

  constructor(private readonly db: SqliteDatabase) {
    this.stmt = {
      upsert: db.prepare(`INSERT INTO plu_items (plu_code, item, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (plu_code) DO UPDATE SET item = excluded.item, updated_at = excluded.updated_at`),
      remove: db.prepare('DELETE FROM plu_items WHERE plu_code = ?'),
      clear: db.prepare('DELETE FROM plu_items'),
      all: db.prepare('SELECT item FROM plu_items ORDER BY plu_code'),
      count: db.prepare('SELECT COUNT(*) AS n FROM plu_items'),
    };
  }

  upsert(item: PluItem, now: number): void {
    this.stmt.upsert.run(item.pluCode, JSON.stringify(item), now);
  }

  remove(pluCode: number): boolean {
    return this.stmt.remove.run(pluCode).changes === 1;
  }

  /** Replaces the whole catalogue in one transaction. */
  replaceAll(items: PluItem[], now: number): void {
    this.db.transaction(() => {
      this.stmt.clear.run();
      for (const i of items) this.upsert(i, now);
    })();
  }

  all(): PluItem[] {
    return (this.stmt.all.all() as Array<{ item: string }>).map((r) => JSON.parse(r.item) as PluItem);
  }

  count(): number {
    return (this.stmt.count.get() as { n: number }).n;
  }
}
