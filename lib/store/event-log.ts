import { withoutFsync, type SqliteDatabase } from '../db/database';
import { runAtOnce } from '../util/steps';
import {
  SYNC_STATES,
  eventOf,
  payloadOf,
  toStored,
  type AckResult,
  type EventColumns,
  type EventFilter,
  type PendingRow,
  type Row,
  type StorableEvent,
  type StoreCounts,
  type StoredEventRow,
  type SyncState,
} from './event-rows';

export * from './event-rows';

/** The most events one search answers (GET /carnitrack/events `limit`). */
export const MAX_RECENT = 10_000;

/** Seqs one step of a search by scale or session reads: some milliseconds of the event loop. */
export const SEARCH_STEP = 20_000;

/**
 * The durable record of every weighing, and the only queue towards the Cloud.
 * An event is `pending` until the Cloud acknowledges it (`synced`) or rejects it (`failed`);
 * unsynced events are never deleted. (Over 400 lines: the table's writes, the bookkeeping
 * kept in memory until it is written, and the reads that must see that memory share one set of
 * prepared statements and marks; the row format is in event-rows.ts.)
 */

/**
 * Bookkeeping that no weighing waits for, kept in memory and written later in one transaction
 * without an fsync (EventLog.settle): the Cloud's acks, and the ids of new rows for the
 * event_ids index. A weighing's commit then writes one page, the table's tail. Lost in a crash
 * or a power cut, nothing is lost that matters: an ack not written makes the event go again
 * (the Cloud answers it as a duplicate), and the ids of rows after `ids_through` are read back
 * from the table when the database opens.
 */
interface BufferedAck {
  cloudEventId: string | null;
  at: number;
  /** The row's state when the ack came (a failed event the Cloud took after all counts too). */
  was: 'pending' | 'failed';
}

/** When the bookkeeping is written whatever else happens (see StoreService): this many entries, or the oldest this old. */
export const SETTLE_ENTRIES = 4000;
export const SETTLE_AGE_MS = 30_000;
/**
 * Acks and ids one step of a settle writes (StoreService writes a step per event-loop turn):
 * 4,000 at once held the event loop, and every scale's OK, for 20-40 ms at 1,000 weighings a
 * second. Each step rewrites the marks and the tails it touched: a few pages more per settle.
 */
export const SETTLE_STEP = 500;

/** The first `n` entries of a map, in its order. */
function take<K, V>(map: Map<K, V>, n: number): Array<[K, V]> {
  if (n >= map.size) return [...map];
  const out: Array<[K, V]> = [];
  for (const entry of map) {
    if (out.length >= n) break;
    out.push(entry);
  }
  return out;
}

/** One EventLog per connection: its memory (acks, ids, counts) must be the same for every store service on it. */
const logs = new WeakMap<SqliteDatabase, EventLog>();

export class EventLog {
  private readonly stmt;
  /** writeGroup's transaction, made once (better-sqlite3 builds a wrapper per db.transaction call). */
  private readonly writeTx: (events: StorableEvent[], now: number) => Array<number | null>;
  private readonly settleTx: (acks: Array<[number, BufferedAck]>, ids: Array<[string, number]>, idsThrough: number, synced: number) => void;
  /** Ids of rows stored since the last settle (the `ids_through` mark): not in event_ids yet. */
  private readonly recentIds = new Map<string, number>();
  /** Acks not written yet, by seq. */
  private readonly acked = new Map<number, BufferedAck>();
  private ackedFrom = { pending: 0, failed: 0 };
  /** No row below this seq is pending in the table. */
  private pendingFrom: number;
  /** Rows pending / synced in the table (the acks not written yet are not counted here). */
  private tablePending: number;
  private tableSynced: number;
  private lastSeq: number;
  /** When the oldest unwritten entry came (monotonic for the caller; null when none). */
  private bufferedSince: number | null = null;

  /** The EventLog of a connection (one per connection, shared by its store services). */
  static of(db: SqliteDatabase): EventLog {
    let log = logs.get(db);
    if (!log) logs.set(db, (log = new EventLog(db)));
    return log;
  }

  constructor(readonly db: SqliteDatabase) {
    this.stmt = {
      insert: db.prepare(`
        INSERT INTO events (local_event_id, device_id, global_device_id, cloud_session_id, offline_batch_id,
          offline_mode, plu_code, weight_grams, scale_timestamp, received_at, raw, payload, stored_at)
        VALUES (@localEventId, @deviceId, @globalDeviceId, @cloudSessionId, @offlineBatchId,
          @offlineMode, @pluCode, @weightGrams, @scaleTimestamp, @receivedAt, @raw, @payload, @storedAt)`),
      idSeq: db.prepare('SELECT seq FROM event_ids WHERE local_event_id = ?').pluck(),
      addId: db.prepare('INSERT INTO event_ids (local_event_id, seq) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      deleteId: db.prepare('DELETE FROM event_ids WHERE local_event_id = ?'),
      catchUpIds: db.prepare(
        'INSERT INTO event_ids (local_event_id, seq) SELECT local_event_id, seq FROM events WHERE seq > ? ORDER BY seq ON CONFLICT DO NOTHING',
      ),
      mark: db.prepare('SELECT value FROM event_marks WHERE key = ?').pluck(),
      setMark: db.prepare('INSERT INTO event_marks (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      // Pending rows by seq from the low-water mark: the table has no index on the state.
      pendingPage: db.prepare(`
        SELECT seq, local_event_id, device_id, global_device_id, cloud_session_id, offline_batch_id, plu_code, weight_grams,
          scale_timestamp, received_at, raw, payload FROM events
        WHERE seq > ? AND sync_state = 'pending' ORDER BY seq LIMIT ?`),
      pendingFrom: db.prepare(`SELECT seq, stored_at AS t FROM events WHERE seq >= ? AND sync_state = 'pending' ORDER BY seq LIMIT ?`),
      countPendingFrom: db.prepare(`SELECT COUNT(*) FROM events WHERE seq >= ? AND sync_state = 'pending'`).pluck(),
      stateOf: db.prepare('SELECT sync_state FROM events WHERE seq = ?').pluck(),
      markSynced: db.prepare(
        `UPDATE events SET sync_state = 'synced', cloud_event_id = ?, synced_at = ?, fail_reason = NULL WHERE seq = ? AND sync_state != 'synced'`,
      ),
      markFailed: db.prepare(`UPDATE events SET sync_state = 'failed', fail_reason = ? WHERE seq = ? AND sync_state = 'pending'`),
      // The failed rows are few and have an index of their own (the literal matches its WHERE).
      firstFailed: db.prepare(`SELECT MIN(seq) FROM events WHERE sync_state = 'failed'`).pluck(),
      retryFailed: db.prepare(`UPDATE events SET sync_state = 'pending', fail_reason = NULL WHERE sync_state = 'failed'`),
      countFailed: db.prepare(`SELECT COUNT(*) FROM events WHERE sync_state = 'failed'`).pluck(),
      batchTotals: db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(weight_grams), 0) AS grams FROM events WHERE offline_batch_id = ?`),
      seqRange: db.prepare('SELECT (SELECT MIN(seq) FROM events) AS lo, (SELECT MAX(seq) FROM events) AS hi'),
      firstFrom: db.prepare('SELECT seq, stored_at AS t FROM events WHERE seq >= ? ORDER BY seq LIMIT 1'),
      receivedBetween: db.prepare(
        'SELECT * FROM events WHERE seq >= @lo AND seq < @hi AND received_at >= @from AND received_at < @to ORDER BY seq LIMIT @limit',
      ),
      oldSynced: db.prepare(`
        SELECT seq, local_event_id AS id FROM events
        WHERE seq <= ? AND sync_state = 'synced' AND synced_at < ? ORDER BY seq LIMIT ?`),
      deleteRow: db.prepare('DELETE FROM events WHERE seq = ?'),
    };
    this.lastSeq = (this.stmt.seqRange.get() as { hi: number | null }).hi ?? 0;
    // Rows stored after the last settle (a crash, a power cut) have their ids put in event_ids now.
    const idsThrough = Number(this.stmt.mark.get('ids_through') ?? 0);
    this.pendingFrom = Number(this.stmt.mark.get('pending_from') ?? 0);
    if (this.lastSeq > idsThrough) {
      withoutFsync(db, () =>
        db.transaction(() => {
          this.stmt.catchUpIds.run(idsThrough);
          this.stmt.setMark.run('ids_through', this.lastSeq);
        })(),
      );
    }
    this.tablePending = Number(this.stmt.countPendingFrom.get(this.pendingFrom));
    this.tableSynced = Number(this.stmt.mark.get('synced') ?? 0);
    this.writeTx = db.transaction((events: StorableEvent[], now: number) => {
      const seqs: Array<number | null> = [];
      const added = new Map<string, number>();
      for (const e of events) {
        if (added.has(e.localEventId) || this.seqOf(e.localEventId) !== null) {
          seqs.push(null);
          continue;
        }
        const seq = this.insertOne(e, now);
        added.set(e.localEventId, seq);
        seqs.push(seq);
      }
      return seqs;
    });
    this.settleTx = db.transaction((acks: Array<[number, BufferedAck]>, ids: Array<[string, number]>, idsThrough: number, synced: number) => {
      for (const [seq, a] of acks) this.stmt.markSynced.run(a.cloudEventId, a.at, seq);
      for (const [id, seq] of ids) this.stmt.addId.run(id, seq);
      this.stmt.setMark.run('ids_through', idsThrough);
      this.stmt.setMark.run('synced', synced);
      this.stmt.setMark.run('pending_from', this.firstPendingInTable());
    });
  }

  /** The seq of the row with this id, or null. */
  seqOf(localEventId: string): number | null {
    const recent = this.recentIds.get(localEventId);
    if (recent !== undefined) return recent;
    const seq = this.stmt.idSeq.get(localEventId) as number | undefined;
    return seq ?? null;
  }

  /**
   * Stores events in one transaction (group commit). The same localEventId twice is one
   * row: `inserted` is false for the repeat. Throws (storing nothing) when the write fails.
   */
  insertMany(events: StorableEvent[], now: number): boolean[] {
    return this.writeGroup(events, now).map((seq) => seq !== null);
  }

  /**
   * One group commit of new events: each one's seq, null for a repeat. It writes the rows and
   * nothing else (see BufferedAck). `waitForDisk` false commits without the fsync: the caller
   * makes it durable (WalSync).
   */
  writeGroup(events: StorableEvent[], now: number, waitForDisk = true, mono = now): Array<number | null> {
    const seqs = waitForDisk ? this.writeTx(events, now) : withoutFsync(this.db, () => this.writeTx(events, now));
    // Only once the transaction is through: a rollback leaves no id behind.
    events.forEach((e, i) => {
      const seq = seqs[i];
      if (seq === null) return;
      this.recentIds.set(e.localEventId, seq);
      this.tablePending++;
      if (seq > this.lastSeq) this.lastSeq = seq;
    });
    if (this.recentIds.size && this.bufferedSince === null) this.bufferedSince = mono;
    return seqs;
  }

  private insertOne(e: StorableEvent, now: number): number {
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
    return Number(r.lastInsertRowid);
  }

  /**
   * The Cloud has the event: noted now, written with the next settle. `seq` when the caller
   * knows it (the Outbox does for what it sent). 'synced' when this marked it, 'already' when
   * it was synced before, 'unknown' when no such event.
   */
  markSynced(localEventId: string, cloudEventId: string | null, now: number, seq: number | null = null, mono = now): AckResult {
    const at = seq ?? this.seqOf(localEventId);
    if (at === null) return 'unknown';
    if (this.acked.has(at)) return 'already';
    const state = this.stmt.stateOf.get(at) as SyncState | undefined;
    if (state === undefined) return 'unknown';
    if (state === 'synced') return 'already';
    this.acked.set(at, { cloudEventId, at: now, was: state });
    this.ackedFrom[state]++;
    if (this.bufferedSince === null) this.bufferedSince = mono;
    return 'synced';
  }

  /** Only a pending event can fail; a synced one stays synced. Written at once (rare). */
  markFailed(localEventId: string, reason: string): 'failed' | 'not-pending' | 'unknown' {
    const seq = this.seqOf(localEventId);
    if (seq === null) return 'unknown';
    if (this.acked.has(seq)) return 'not-pending';
    if (withoutFsync(this.db, () => this.stmt.markFailed.run(reason, seq).changes) === 1) {
      this.tablePending--;
      return 'failed';
    }
    return this.stmt.stateOf.get(seq) === undefined ? 'unknown' : 'not-pending';
  }

  /**
   * Failed events become pending again. The low-water mark moves down in the same transaction:
   * after a crash, rows below the stored mark would never be looked at.
   */
  retryFailed(): number {
    const first = this.stmt.firstFailed.get() as number | null;
    if (first === null) return 0;
    const from = Math.min(this.pendingFrom, first);
    const n = this.db.transaction(() => {
      this.stmt.setMark.run('pending_from', from);
      return this.stmt.retryFailed.run().changes;
    })();
    this.tablePending += n;
    this.pendingFrom = from;
    return n;
  }

  /** Entries (acks and ids) not written yet, and since when (the caller's monotonic time). */
  get buffered(): { entries: number; since: number | null } {
    return { entries: this.acked.size + this.recentIds.size, since: this.bufferedSince };
  }

  /**
   * Writes the bookkeeping (acks, ids, marks) in one transaction without waiting for the disk:
   * all of it, or the oldest `step` acks and `step` ids. Throws when the write fails; the
   * entries stay and are tried again.
   */
  settle(step = Infinity): void {
    if (!this.acked.size && !this.recentIds.size) return;
    const acks = take(this.acked, step);
    // The ids in the order of their rows: what is written is every id up to the last one taken.
    const ids = take(this.recentIds, step);
    const idsThrough = ids.length < this.recentIds.size ? ids[ids.length - 1][1] : this.lastSeq;
    withoutFsync(this.db, () => this.settleTx(acks, ids, idsThrough, this.tableSynced + acks.length));
    this.tableSynced += acks.length;
    for (const [seq, a] of acks) {
      this.acked.delete(seq);
      this.ackedFrom[a.was]--;
      if (a.was === 'pending') this.tablePending--;
    }
    for (const [id] of ids) this.recentIds.delete(id);
    if (!this.acked.size && !this.recentIds.size) this.bufferedSince = null;
  }

  /** The first row pending in the table (lastSeq + 1 when none), moving the low-water mark up to it. */
  private firstPendingInTable(): number {
    const rows = this.stmt.pendingFrom.all(this.pendingFrom, 1) as Array<{ seq: number }>;
    this.pendingFrom = rows.length ? rows[0].seq : this.lastSeq + 1;
    return this.pendingFrom;
  }

  /** The oldest pending event's stored_at (an ack not written yet makes its row not pending). */
  private oldestPendingStoredAt(): number | null {
    if (this.tablePending - this.ackedFrom.pending <= 0) return null;
    let from = this.firstPendingInTable();
    // At most SETTLE_ENTRIES acks wait to be written: a few steps find a row without one.
    for (let step = 0; step < 64; step++) {
      const rows = this.stmt.pendingFrom.all(from, 256) as Array<{ seq: number; t: number }>;
      for (const r of rows) if (!this.acked.has(r.seq)) return r.t;
      if (rows.length < 256) return null;
      from = rows[rows.length - 1].seq + 1;
    }
    return null;
  }

  /** Pending events after `afterSeq`, oldest first: the backlog, one page at a time. */
  pendingPage(afterSeq: number, limit: number): PendingRow[] {
    const out: PendingRow[] = [];
    let from = Math.max(afterSeq, this.pendingFrom - 1);
    // Rows whose ack is not written yet are still 'pending' in the table: skipped here.
    for (let step = 0; out.length < limit && step < 64; step++) {
      const want = limit - out.length;
      const rows = this.stmt.pendingPage.all(from, want) as Array<Pick<Row, 'seq'> & EventColumns>;
      for (const r of rows) if (!this.acked.has(r.seq)) out.push({ seq: r.seq, localEventId: r.local_event_id, deviceId: r.device_id, event: eventOf(r) });
      if (rows.length < want) break;
      from = rows[rows.length - 1].seq;
    }
    return out;
  }

  /** Events per state; `synced` (the long history) is null unless asked for. */
  counts(includeSynced = true): StoreCounts {
    return {
      pending: this.tablePending - this.ackedFrom.pending,
      failed: Number(this.stmt.countFailed.get()) - this.ackedFrom.failed,
      synced: includeSynced ? this.tableSynced + this.acked.size : null,
      oldestPendingStoredAt: this.oldestPendingStoredAt(),
    };
  }

  /** What the store holds for an offline batch: the figures `offline_batch_end` reports. */
  batchTotals(batchId: string): { eventCount: number; totalWeightGrams: number } {
    const r = this.stmt.batchTotals.get(batchId) as { n: number; grams: number };
    return { eventCount: r.n, totalWeightGrams: r.grams };
  }

  /**
   * Deletes at most `limit` synced events synced before `cutoff`, oldest first; never an
   * unsynced one, and never the newest row (its seq keeps the next one from being given again).
   * No index on synced_at: rows are walked by seq, up to the last one stored before `cutoff`
   * (an event is synced after it is stored).
   */
  deleteSyncedBefore(cutoff: number, limit: number): number {
    this.settle(); // the acks not written yet count
    const upTo = Math.min(this.lastStoredBefore(cutoff), this.lastSeq - 1);
    if (upTo <= 0) return 0;
    const rows = this.stmt.oldSynced.all(upTo, cutoff, limit) as Array<{ seq: number; id: string }>;
    if (!rows.length) return 0;
    withoutFsync(this.db, () =>
      this.db.transaction(() => {
        for (const r of rows) {
          this.stmt.deleteRow.run(r.seq);
          if (this.recentIds.get(r.id) === r.seq) this.recentIds.delete(r.id);
          else this.stmt.deleteId.run(r.id);
        }
        this.stmt.setMark.run('synced', this.tableSynced - rows.length);
      })(),
    );
    this.tableSynced -= rows.length;
    return rows.length;
  }

  /** The last seq stored before `t` (stored_at rises with seq but for clock steps): a binary search by seq. */
  private lastStoredBefore(t: number): number {
    const { lo, hi } = this.stmt.seqRange.get() as { lo: number | null; hi: number | null };
    if (lo === null || hi === null) return 0;
    let [a, b] = [lo, hi]; // answer in [a - 1, b]
    const first = this.stmt.firstFrom.get(a) as { seq: number; t: number };
    if (first.t >= t) return 0;
    while (a < b) {
      const mid = Math.floor((a + b + 1) / 2);
      const r = this.stmt.firstFrom.get(mid) as { seq: number; t: number } | undefined;
      if (r && r.t < t) a = r.seq;
      else b = mid - 1;
    }
    return a;
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
    this.settle(); // the states as they are, acks not written yet included
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
   * are not indexed (migration 3: each such index cost a page write per weighing), nor is the
   * state but for failed events (migration 4), so a search by them walks back through the table
   * SEARCH_STEP seqs per step; by batch or failed state it uses their indexes. The bookkeeping
   * not written yet is written first, so the table says each event's state.
   */
  *search(filter: EventFilter = {}): Generator<void, StoredEventRow[]> {
    this.settle();
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
    // A literal, so that the planner takes the index of failed rows (a partial index).
    if (filter.syncState !== undefined) where.push(`sync_state = '${SYNC_STATES.includes(filter.syncState) ? filter.syncState : 'none'}'`);
    const limit = Math.max(1, Math.min(MAX_RECENT, filter.limit ?? 100));
    const walk =
      filter.offlineBatchId === undefined &&
      (filter.deviceId !== undefined || filter.cloudSessionId !== undefined || (filter.syncState !== undefined && filter.syncState !== 'failed'));
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
