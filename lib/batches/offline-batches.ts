import type { SqliteDatabase } from '../db/database';
import { rowCache, type RowCache } from '../db/row-cache';
import { globalDeviceId } from '../site/device-id';
import type { OfflineBatchStartPayload, OfflineBatchEndPayload } from '../protocol/messages';

/**
 * Offline batches: the per-device groups of events the Cloud will have to reconcile
 * (shared/DP401.md section 4), one table with one owner. session-cache opens and closes them
 * (it knows when the Cloud is unreachable or a device has no session); the store announces
 * them to the Cloud and records what it has handed over. The Cloud does not acknowledge
 * batch announcements, so a start or end counts as delivered once sent on a live link;
 * whatever was due while the link was down is sent on the next connect.
 */

export interface OfflineBatch {
  batchId: string;
  deviceId: string;
  cloudSessionId: string | null;
  reason: 'cloud-unreachable' | 'no-session';
  startedAt: string;
  endedAt: string | null;
  endReason: string | null;
  startSentAt: number | null;
  endSentAt: number | null;
}

/** A message for the next node: `offline_batch_start` or `offline_batch_end` (which also has the end). */
export interface BatchMessage {
  topic: 'offline_batch_start' | 'offline_batch_end';
  payload: OfflineBatchStartPayload & Partial<Pick<BatchEndAnnouncement, 'endedAt' | 'endReason'>>;
}

/** `offline_batch_end` as session-cache sends it: the store adds the event count and weight. */
export type BatchEndAnnouncement = Omit<OfflineBatchEndPayload, 'eventCount' | 'totalWeightGrams'> & { reason?: string | null; endReason: string | null };

interface BatchRow {
  batch_id: string;
  device_id: string;
  cloud_session_id: string | null;
  reason: OfflineBatch['reason'];
  started_at: string;
  ended_at: string | null;
  end_reason: string | null;
  start_sent_at: number | null;
  end_sent_at: number | null;
}

const toBatch = (r: BatchRow): OfflineBatch => ({
  batchId: r.batch_id,
  deviceId: r.device_id,
  cloudSessionId: r.cloud_session_id,
  reason: r.reason,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  endReason: r.end_reason,
  startSentAt: r.start_sent_at,
  endSentAt: r.end_sent_at,
});

export class OfflineBatches {
  private readonly stmt;
  /** Each device's open batch, read on every weighing that goes to a batch. */
  private readonly openCache: RowCache<OfflineBatch>;

  constructor(
    db: SqliteDatabase,
    private readonly siteId: string,
  ) {
    this.openCache = rowCache<OfflineBatch>(db, 'offline_batches.open');
    this.stmt = {
      get: db.prepare('SELECT * FROM offline_batches WHERE batch_id = ?'),
      open: db.prepare('SELECT * FROM offline_batches WHERE device_id = ? AND ended_at IS NULL'),
      openAll: db.prepare('SELECT * FROM offline_batches WHERE ended_at IS NULL ORDER BY started_at'),
      insert: db.prepare('INSERT INTO offline_batches (batch_id, device_id, cloud_session_id, reason, started_at) VALUES (?, ?, ?, ?, ?)'),
      end: db.prepare('UPDATE offline_batches SET ended_at = ?, end_reason = ? WHERE batch_id = ? AND ended_at IS NULL'),
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

  /** The device's open batch, if any (at most one: a unique index says so). */
  openFor(deviceId: string): OfflineBatch | null {
    return this.openCache.get(deviceId, () => {
      const r = this.stmt.open.get(deviceId) as BatchRow | undefined;
      return r ? toBatch(r) : null;
    });
  }

  open(): OfflineBatch[] {
    return (this.stmt.openAll.all() as BatchRow[]).map(toBatch);
  }

  /** Opens a batch for the device; returns it with its `offline_batch_start` message. */
  start(
    batchId: string,
    deviceId: string,
    cloudSessionId: string | null,
    reason: OfflineBatch['reason'],
    now: number,
  ): { batch: OfflineBatch; message: BatchMessage } {
    const batch: OfflineBatch = {
      batchId,
      deviceId,
      cloudSessionId,
      reason,
      startedAt: new Date(now).toISOString(),
      endedAt: null,
      endReason: null,
      startSentAt: null,
      endSentAt: null,
    };
    this.openCache.drop(deviceId);
    this.stmt.insert.run(batch.batchId, deviceId, cloudSessionId, reason, batch.startedAt);
    return { batch, message: { topic: 'offline_batch_start', payload: this.startPayload(batch) } };
  }

  /** Closes the device's open batch; returns its `offline_batch_end` message (none if none was open). */
  end(deviceId: string, reason: string, now: number): BatchMessage[] {
    const open = this.openFor(deviceId);
    if (!open) return [];
    const endedAt = new Date(now).toISOString();
    this.openCache.drop(deviceId);
    this.stmt.end.run(endedAt, reason, open.batchId);
    return [{ topic: 'offline_batch_end', payload: this.endPayload({ ...open, endedAt, endReason: reason }) }];
  }

  unsentStarts(limit = 1000): OfflineBatch[] {
    return (this.stmt.unsentStarts.all(limit) as BatchRow[]).map(toBatch);
  }

  unsentEnds(limit = 1000): OfflineBatch[] {
    return (this.stmt.unsentEnds.all(limit) as BatchRow[]).map(toBatch);
  }

  markStartSent(batchId: string, now: number): void {
    this.openCache.clear(); // keyed by device, not batch; this is rare
    this.stmt.startSent.run(now, batchId);
  }

  markEndSent(batchId: string, now: number): void {
    this.stmt.endSent.run(now, batchId); // an ended batch is in no open-batch cache
  }

  recent(limit = 100): OfflineBatch[] {
    return (this.stmt.recent.all(limit) as BatchRow[]).map(toBatch);
  }

  /** The payload of `offline_batch_start`. */
  startPayload(b: OfflineBatch): OfflineBatchStartPayload {
    return {
      batchId: b.batchId,
      deviceId: b.deviceId,
      globalDeviceId: globalDeviceId(this.siteId, b.deviceId),
      cloudSessionId: b.cloudSessionId,
      reason: b.reason,
      startedAt: b.startedAt,
    };
  }

  /** The payload of `offline_batch_end`, before the store adds the event count and weight. */
  endPayload(b: OfflineBatch & { endedAt: string }): BatchEndAnnouncement {
    return { ...this.startPayload(b), endedAt: b.endedAt, endReason: b.endReason };
  }
}
