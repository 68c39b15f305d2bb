import type { SqliteDatabase } from '../db/database';
import { PluCatalog } from './plu-catalog';
import { formatPluFile, formatPluLine, type FormatOptions, type PluItem } from './plu-format';
import { catalogItemsFrom, pluCodeToDelete, toPluItem } from './plu-item';
import { writeFileAtomic } from '../util/atomic-write';

/**
 * plu-out at work, with no knowledge of Node-RED: the Cloud's PLU messages applied to the
 * catalogue (each item checked against the scale's file format first, so what is kept can be
 * written), and the scale's file written from the whole catalogue. The plu-out node is a thin
 * adapter over it; it decides when to write (a debounce after changes) and keeps what must
 * outlive a reopen after a disk fault.
 */

export const PLU_TOPICS = ['plu_updated', 'plu_deleted', 'plu_catalog'] as const;
export type PluTopic = (typeof PLU_TOPICS)[number];

export interface PluServiceOptions {
  /** The scale's file (absolute). */
  file: string;
  format: FormatOptions;
}

/** A write of the file: what was written, or why it could not be. */
export type PluFileWrite = { bytes: Buffer; count: number; leftOut: string[]; error?: undefined } | { error: string };

export class PluService {
  readonly catalog: PluCatalog;

  constructor(
    db: SqliteDatabase,
    private readonly o: PluServiceOptions,
  ) {
    this.catalog = new PluCatalog(db);
  }

  /** Reads and checks one item, naming the PLU and field when it cannot be written. */
  accept(raw: unknown): PluItem {
    const { item, error } = toPluItem(raw);
    if (!item) throw new Error(error);
    const line = formatPluLine(item, this.o.format);
    if (!line.ok) throw new Error(line.error);
    return item;
  }

  /**
   * One message from the Cloud. Throws when it cannot be used at all (nothing changed);
   * returns the catalogue's items that were refused (the rest is kept) and, for a delete,
   * a code the catalogue did not hold.
   */
  apply(topic: PluTopic, payload: unknown, now: number): { refused: string[]; unknownCode?: number } {
    switch (topic) {
      case 'plu_updated':
        this.catalog.upsert(this.accept(payload), now);
        return { refused: [] };
      case 'plu_deleted': {
        const code = pluCodeToDelete(payload);
        return this.catalog.remove(code) ? { refused: [] } : { refused: [], unknownCode: code };
      }
      case 'plu_catalog': {
        const good: PluItem[] = [];
        const refused: string[] = [];
        for (const raw of catalogItemsFrom(payload)) {
          try {
            good.push(this.accept(raw));
          } catch (err) {
            refused.push((err as Error).message);
          }
        }
        this.catalog.replaceAll(good, now);
        return { refused };
      }
    }
  }

  /**
   * Writes the file from the catalogue now (atomically), leaving out items it cannot format.
   * Throws when the catalogue cannot be read (the database: a disk fault is the node's to
   * handle); a file that cannot be written is an `error` in the answer.
   */
  writeFile(): PluFileWrite {
    const { bytes, count, errors } = formatPluFile(this.catalog.all(), this.o.format);
    try {
      writeFileAtomic(this.o.file, bytes);
    } catch (err) {
      return { error: (err as Error).message };
    }
    return { bytes, count, leftOut: errors };
  }

  count(): number {
    return this.catalog.count();
  }
}
