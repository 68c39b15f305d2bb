import type { SqliteDatabase } from './database';
import { toBatch, type BatchRow, type OfflineBatch } from '../sessions/session-cache';

/**
 * Which offline batch announcements the Cloud has been handed. The Cloud does not
 * acknowledge them, so a start or end counts as delivered once sent on a live link;
 * whatever was due while the link was down is sent on the next connect.
 */
export class BatchLedger {
  private readonly stmt;

  constructor(db: SqliteDatabase) {
    this.stmt = {
      get: db.prepare('SELECT * FROM offline_batches WHERE batch_id = ?'),
      unsentStarts: db.prepare('SELECT * FROM offline_batches WHERE start_sent_at IS NULL ORDER BY started_at LIMIT ?'),
      unsentEnds: db.prepare('SELECT * FROM offline_batches WHERE ended_at IS NOT NULL AND end_sent_at IS NULL ORDER BY ended_at LIMIT ?'),
      startSent: db.prepare('UPDATE offline_batches SET start_sent_at = ? WHERE batch_id = ?'),
      endSent: db.prepare('UPDATE offline_batches SET end_sent_at = ? WHERE batch_id = ?'),
      recent: db.prepare('SELECT * FROM offline_batches ORDER BY started_at DESC LIMIT ?'),
    };
  }

  get(batchId: string): OfflineBatch | null {
    const r = this.stmt.get.get(batchId) as BatchRow | undefined;
    return r ? toBatch(r) : null;
  }

  unsentStarts(limit = 1000): OfflineBatch[] {
    return (this.stmt.unsentStarts.all(limit) as BatchRow[]).map(toBatch);
  }

  unsentEnds(limit = 1000): OfflineBatch[] {
    return (this.stmt.unsentEnds.all(limit) as BatchRow[]).map(toBatch);
  }

  markStartSent(batchId: string, now: number): void {
    this.stmt.startSent.run(now, batchId);
  }

  markEndSent(batchId: string, now: number): void {
    this.stmt.endSent.run(now, batchId);
  }

  recent(limit = 100): OfflineBatch[] {
    return (this.stmt.recent.all(limit) as BatchRow[]).map(toBatch);
  }
}
