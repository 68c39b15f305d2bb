import { withoutFsync, type SqliteDatabase } from '../db/database';
import type { EventPayload } from '../protocol/messages';
import { runAtOnce } from '../util/steps';

/**
 * The durable record of every weighing, and the only queue towards the Cloud.
 * An event is `pending` until the Cloud acknowledges it (`synced`) or rejects it (`failed`);
 * unsynced events are never deleted.
 */

export type SyncState = 'pending' | 'synced' | 'failed';

/** The most events one search answers (GET /carnitrack/events `limit`). */
export const MAX_RECENT = 10_000;

/** Seqs one step of a search by scale or session reads: some milliseconds of the event loop. */
export const SEARCH_STEP = 20_000;

/**
 * What the store needs of an event: the protocol's event payload (the fields the Cloud
 * reads); everything else in it is kept too, in `payload`.
 */
export interface StorableEvent extends EventPayload {
  raw?: string;
  [field: string]: unknown;
}

/** An ack to write: the Cloud has the event (as cloudEventId, when it said). */
export interface AckWrite {
  localEventId: string;
  cloudEventId: string | null;
}

/** 'synced' when this write marked it, 'already' when it was synced before, 'unknown' when no such event. */
export type AckResult = 'synced' | 'already' | 'unknown';

export interface PendingRow {
  seq: number;
  localEventId: string;
  deviceId: string;
  event: StorableEvent;
}

export interface StoredEventRow {
  seq: number;
  localEventId: string;
  deviceId: string;
  cloudSessionId: string | null;
  offlineBatchId: string | null;
  syncState: SyncState;
  cloudEventId: string | null;
  failReason: string | null;
  storedAt: number;
  syncedAt: number | null;
  event: StorableEvent;
}

export interface EventFilter {
  deviceId?: string;
  cloudSessionId?: string;
  offlineBatchId?: string;
  syncState?: SyncState;
  limit?: number;
}

export interface StoreCounts {
  pending: number;
  failed: number;
  synced: number | null;
  oldestPendingStoredAt: number | null;
}

/** Checks an incoming event; returns the problem, naming the field, or null. */
export function validateStorableEvent(e: unknown): string | null {
  if (!e || typeof e !== 'object') return 'the event payload is not an object';
  const ev = e as Record<string, unknown>;
  if (typeof ev.localEventId !== 'string' || ev.localEventId.length === 0 || ev.localEventId.length > 128) return 'localEventId must be a non-empty string';
  if (typeof ev.deviceId !== 'string' || ev.deviceId.length === 0) return 'deviceId must be a non-empty string';
  if (!Number.isInteger(ev.weightGrams)) return 'weightGrams must be a whole number of grams';
  if (typeof ev.receivedAt !== 'string') return 'receivedAt must be an ISO 8601 string';
  for (const f of ['cloudSessionId', 'offlineBatchId', 'globalDeviceId'] as const) {
    if (ev[f] !== undefined && ev[f] !== null && typeof ev[f] !== 'string') return `${f} must be a string or null`;
  }
  return null;
}

interface Row {
  seq: number;
  local_event_id: string;
  device_id: string;
  global_device_id: string | null;
  cloud_session_id: string | null;
  offline_batch_id: string | null;
  offline_mode: number;
  plu_code: string | null;
  weight_grams: number;
  scale_timestamp: string | null;
  received_at: string;
  raw: string | null;
  sync_state: SyncState;
  cloud_event_id: string | null;
  fail_reason: string | null;
  stored_at: number;
  synced_at: number | null;
  payload: string;
}

const toStored = (r: Row): StoredEventRow => ({
  seq: r.seq,
  localEventId: r.local_event_id,
  deviceId: r.device_id,
  cloudSessionId: r.cloud_session_id,
  offlineBatchId: r.offline_batch_id,
  syncState: r.sync_state,
  cloudEventId: r.cloud_event_id,
  failReason: r.fail_reason,
  storedAt: r.stored_at,
  syncedAt: r.synced_at,
  event: eventOf(r),
});

type EventColumns = Pick<
  Row,
  | 'local_event_id'
  | 'device_id'
  | 'global_device_id'
  | 'cloud_session_id'
  | 'offline_batch_id'
  | 'plu_code'
  | 'weight_grams'
  | 'scale_timestamp'
  | 'received_at'
  | 'raw'
  | 'payload'
>;

/**
 * The event fields that have a column of their own. `payload` holds the rest of the event:
 * a field is left out of it when its column holds it exactly (a string in a text column,
 * whole grams in weight_grams) and put back from the column on reading. That is a third less
 * to write for every weighing (the raw line alone is ~170 bytes). Rows written before hold
 * every field in `payload` too and read the same way.
 */
const COLUMN_FIELDS: ReadonlyArray<readonly [field: string, column: keyof EventColumns]> = [
  ['localEventId', 'local_event_id'],
  ['deviceId', 'device_id'],
  ['globalDeviceId', 'global_device_id'],
  ['cloudSessionId', 'cloud_session_id'],
  ['offlineBatchId', 'offline_batch_id'],
  ['pluCode', 'plu_code'],
  ['weightGrams', 'weight_grams'],
  ['scaleTimestamp', 'scale_timestamp'],
  ['receivedAt', 'received_at'],
  ['raw', 'raw'],
];
const IN_COLUMN = new Set(COLUMN_FIELDS.map(([field]) => field));

/** The payload column of an event: its fields without those its columns hold exactly. */
function payloadOf(e: StorableEvent): string {
  const rest: Record<string, unknown> = {};
  for (const k in e) {
    const v = e[k];
    const exact = k === 'weightGrams' ? Number.isSafeInteger(v) : typeof v === 'string';
    if (!(exact && IN_COLUMN.has(k))) rest[k] = v;
  }
  return JSON.stringify(rest);
}

/** The event as it was stored: its columns' fields with the rest from `payload`. */
function eventOf(r: EventColumns): StorableEvent {
  const e: Record<string, unknown> = {};
  for (const [field, column] of COLUMN_FIELDS) if (r[column] !== null) e[field] = r[column];
  return Object.assign(e, JSON.parse(r.payload) as Record<string, unknown>) as StorableEvent;
}

export class EventLog {
  private readonly stmt;
  /** writeGroup's transaction, made once (better-sqlite3 builds a wrapper per db.transaction call). */
  private readonly writeTx: (events: StorableEvent[], acks: ReadonlyArray<AckWrite>, now: number) => { seqs: Array<number | null>; acked: AckResult[] };

  constructor(readonly db: SqliteDatabase) {
    this.stmt = {
      insert: db.prepare(`
        INSERT INTO events (local_event_id, device_id, global_device_id, cloud_session_id, offline_batch_id,
          offline_mode, plu_code, weight_grams, scale_timestamp, received_at, raw, payload, stored_at)
        VALUES (@localEventId, @deviceId, @globalDeviceId, @cloudSessionId, @offlineBatchId,
          @offlineMode, @pluCode, @weightGrams, @scaleTimestamp, @receivedAt, @raw, @payload, @storedAt)
        ON CONFLICT (local_event_id) DO NOTHING`),
      pendingPage: db.prepare(`
        SELECT seq, local_event_id, device_id, global_device_id, cloud_session_id, offline_batch_id, plu_code, weight_grams,
          scale_timestamp, received_at, raw, payload FROM events
        WHERE sync_state = 'pending' AND seq > ? ORDER BY seq LIMIT ?`),
      markSynced: db.prepare(`
        UPDATE events SET sync_state = 'synced', cloud_event_id = ?, synced_at = ?, fail_reason = NULL
        WHERE local_event_id = ? AND sync_state != 'synced'`),
      markFailed: db.prepare(`
        UPDATE events SET sync_state = 'failed', fail_reason = ? WHERE local_event_id = ? AND sync_state = 'pending'`),
      retryFailed: db.prepare(`UPDATE events SET sync_state = 'pending', fail_reason = NULL WHERE sync_state = 'failed'`),
      exists: db.prepare('SELECT sync_state FROM events WHERE local_event_id = ?'),
      // Range counts on the (sync_state, seq) index: the long synced history is only
      // counted when asked for.
      countState: db.prepare(`SELECT COUNT(*) AS n FROM events WHERE sync_state = ?`),
      oldestPending: db.prepare(`SELECT stored_at AS t FROM events WHERE sync_state = 'pending' ORDER BY seq LIMIT 1`),
      batchTotals: db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(weight_grams), 0) AS grams FROM events WHERE offline_batch_id = ?`),
      seqRange: db.prepare('SELECT (SELECT MIN(seq) FROM events) AS lo, (SELECT MAX(seq) FROM events) AS hi'),
      receivedBetween: db.prepare(
        'SELECT * FROM events WHERE seq >= @lo AND seq < @hi AND received_at >= @from AND received_at < @to ORDER BY seq LIMIT @limit',
      ),
      deleteSynced: db.prepare(`
        DELETE FROM events WHERE seq IN (
          SELECT seq FROM events WHERE sync_state = 'synced' AND synced_at < ? LIMIT ?)`),
    };
    this.writeTx = db.transaction((events: StorableEvent[], acks: ReadonlyArray<AckWrite>, now: number) => ({
      seqs: events.map((e) => this.insertOne(e, now)),
      acked: acks.map((a) => this.markSynced(a.localEventId, a.cloudEventId, now)),
    }));
  }

  /**
   * Stores events in one transaction (group commit). The same localEventId twice is one
   * row: `inserted` is false for the repeat. Throws (storing nothing) when the write fails.
   */
  insertMany(events: StorableEvent[], now: number): boolean[] {
    return this.writeGroup(events, [], now).seqs.map((seq) => seq !== null);
  }

  /**
   * One group commit: new events and the Cloud's acks in one transaction. The acks are for
   * recent events, so they rewrite the same tail pages of the table and the state index that
   * the new rows go to: together those pages reach the WAL once instead of twice. `seqs` is
   * each new row's seq (null for a repeat), `acked` one result per ack. `waitForDisk` false
   * commits without the fsync: the caller makes it durable (WalSync), or it holds only acks.
   */
  writeGroup(events: StorableEvent[], acks: ReadonlyArray<AckWrite>, now: number, waitForDisk = true): { seqs: Array<number | null>; acked: AckResult[] } {
    return waitForDisk ? this.writeTx(events, acks, now) : withoutFsync(this.db, () => this.writeTx(events, acks, now));
  }

  private insertOne(e: StorableEvent, now: number): number | null {
    const r = this.stmt.insert.run({
      localEventId: e.localEventId,
      deviceId: e.deviceId,
      globalDeviceId: e.globalDeviceId ?? null,
      cloudSessionId: e.cloudSessionId ?? null,
      offlineBatchId: e.offlineBatchId ?? null,
      offlineMode: e.offlineMode ? 1 : 0,
      pluCode: e.pluCode ?? null,
      weightGrams: e.weightGrams,
      scaleTimestamp: e.scaleTimestamp ?? null,
      receivedAt: e.receivedAt,
      raw: e.raw ?? null,
      payload: payloadOf(e),
      storedAt: now,
    });
    return r.changes === 1 ? Number(r.lastInsertRowid) : null;
  }

  /** Pending events after `afterSeq`, oldest first: the backlog, one page at a time. */
  pendingPage(afterSeq: number, limit: number): PendingRow[] {
    const rows = this.stmt.pendingPage.all(afterSeq, limit) as Array<Pick<Row, 'seq'> & EventColumns>;
    return rows.map((r) => ({ seq: r.seq, localEventId: r.local_event_id, deviceId: r.device_id, event: eventOf(r) }));
  }

  /** 'synced' when this call marked it, 'already' when it was synced before, 'unknown' when no such event. */
  markSynced(localEventId: string, cloudEventId: string | null, now: number): AckResult {
    if (this.stmt.markSynced.run(cloudEventId, now, localEventId).changes === 1) return 'synced';
    return this.stmt.exists.get(localEventId) ? 'already' : 'unknown';
  }

  /** Only a pending event can fail; a synced one stays synced. */
  markFailed(localEventId: string, reason: string): 'failed' | 'not-pending' | 'unknown' {
    if (this.stmt.markFailed.run(reason, localEventId).changes === 1) return 'failed';
    return this.stmt.exists.get(localEventId) ? 'not-pending' : 'unknown';
  }

  retryFailed(): number {
    return this.stmt.retryFailed.run().changes;
  }

  /** Events per state; `synced` (the long history) is null unless asked for. */
  counts(includeSynced = true): StoreCounts {
    const count = (state: SyncState): number => (this.stmt.countState.get(state) as { n: number }).n;
    const oldest = this.stmt.oldestPending.get() as { t: number } | undefined;
    return {
      pending: count('pending'),
      failed: count('failed'),
      synced: includeSynced ? count('synced') : null,
      oldestPendingStoredAt: oldest?.t ?? null,
    };
  }

  /** What the store holds for an offline batch: the figures `offline_batch_end` reports. */
  batchTotals(batchId: string): { eventCount: number; totalWeightGrams: number } {
    const r = this.stmt.batchTotals.get(batchId) as { n: number; grams: number };
    return { eventCount: r.n, totalWeightGrams: r.grams };
  }

  /** Deletes at most `limit` synced events synced before `cutoff`; never an unsynced one. */
  deleteSyncedBefore(cutoff: number, limit: number): number {
    return this.stmt.deleteSynced.run(cutoff, limit).changes;
  }

  /** Recent events, newest first, for admin views (all at once: see search for large tables). */
  recent(filter: EventFilter = {}): StoredEventRow[] {
    return runAtOnce(this.search(filter));
  }

  /**
   * Events received in [from, to) (ISO instants in UTC, as receivedAt is written), oldest first,
   * at most `max`: for the CSV export. received_at has no index (it would cost a page write per
   * weighing), so this walks the table by seq, SEARCH_STEP seqs a step, and yields each step's
   * rows: an export of a long history streams out a step per event-loop turn.
   */
  *receivedBetween(from: string, to: string, max: number): Generator<StoredEventRow[], void> {
    const { lo, hi } = this.stmt.seqRange.get() as { lo: number | null; hi: number | null };
    if (lo === null || hi === null) return;
    let left = max;
    for (let at = lo; at <= hi && left > 0; at += SEARCH_STEP) {
      const rows = (this.stmt.receivedBetween.all({ lo: at, hi: at + SEARCH_STEP, from, to, limit: Math.min(left, SEARCH_STEP) }) as Row[]).map(toStored);
      left -= rows.length;
      yield rows;
    }
  }

  /**
   * Recent events, newest first, a step at a time: the generator yields between steps so that
   * an admin request on a long history never holds the event loop for long. Scale and session
   * are not indexed (migration 3: each such index cost a page write per weighing), so a search
   * by them walks back through the table SEARCH_STEP seqs per step; by batch or state it uses
   * their indexes.
   */
  *search(filter: EventFilter = {}): Generator<void, StoredEventRow[]> {
    const where: string[] = [];
    const args: Record<string, string | number> = {};
    const add = (column: string, name: string, v: string | undefined): void => {
      if (v === undefined) return;
      where.push(`${column} = @${name}`);
      args[name] = v;
    };
    add('device_id', 'deviceId', filter.deviceId);
    add('cloud_session_id', 'cloudSessionId', filter.cloudSessionId);
    add('offline_batch_id', 'offlineBatchId', filter.offlineBatchId);
    add('sync_state', 'syncState', filter.syncState);
    const limit = Math.max(1, Math.min(MAX_RECENT, filter.limit ?? 100));
    const walk = filter.offlineBatchId === undefined && (filter.deviceId !== undefined || filter.cloudSessionId !== undefined);
    if (walk) where.push('seq > @from', 'seq <= @to');
    const query = this.db.prepare(`SELECT * FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT @limit`);
    const rowsOf = (more: Record<string, number>): StoredEventRow[] => (query.all({ ...args, ...more }) as Row[]).map(toStored);
    if (!walk) return rowsOf({ limit });
    const { lo, hi } = this.stmt.seqRange.get() as { lo: number | null; hi: number | null };
    const rows: StoredEventRow[] = [];
    if (lo === null || hi === null) return rows;
    for (let to = hi; to >= lo && rows.length < limit; to -= SEARCH_STEP) {
      if (to !== hi) yield;
      rows.push(...rowsOf({ from: to - SEARCH_STEP, to, limit: limit - rows.length }));
    }
    return rows;
  }
}
