import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDiskFault, type SqliteDatabase } from '../db/database';
import { WalSync, type Fsync } from '../db/wal-sync';
import { Checkpointer, type CheckpointerOptions } from '../db/checkpointer';
import { EventLog, SETTLE_AGE_MS, SETTLE_ENTRIES, SETTLE_STEP, validateStorableEvent, type PendingRow, type StorableEvent } from './event-log';
import { Outbox } from './outbox';
import { OfflineBatches, type OfflineBatch } from '../batches/offline-batches';
import { asRecord, batchAnnouncementFrom, eventAckFrom, eventRejectedFrom } from '../protocol/flow-input';
import { systemClock, wallIso, type Clock } from '../util/clock';

/**
 * The event store at work, with no knowledge of Node-RED: group commit of incoming events,
 * the backlog drain to the Cloud within an in-flight window, acks and rejections, batch
 * announcements, figures and alarms, retention and backups. The event-store node is a thin
 * adapter over it.
 * (Over 400 lines: each of these touches the group commit, the outbox and the fault state, which
 * would otherwise have to be shared between classes; the timers and options are in store-runner.ts.)
 */

export interface StoreServiceOptions {
  siteId: string;
  batchSize: number;
  window: number;
  ackTimeoutMs: number;
  retentionDays: number;
  minFreeDiskBytes: number;
  maxPendingAgeMs: number;
  /** Most events written in one transaction. */
  maxGroup?: number;
  /**
   * How long the first event of a group waits for others (ms). Each commit writes every index
   * page its events touch, one write per page, so fewer, larger groups cost much less per
   * event: 1 ms gave 10-15% more weighings a second in the benchmark, at no cost in latency.
   */
  groupDelayMs?: number;
  /** Wall clock for stored timestamps (overrides `clock.wall`). */
  now?: () => number;
  /** Ack timeouts run on `clock.mono`, so a wall-clock step never resends or holds events. */
  clock?: Clock;
  /** The fsync of the write-ahead log (tests hold or fail it). */
  fsync?: Fsync;
  /** Who runs this service (the node's name), for the message a second store on the database gets. */
  name?: string;
  /** When the checkpointer acts (tests make it act sooner); see lib/db/checkpointer.ts. */
  checkpoints?: CheckpointerOptions;
  /**
   * The acks and ids not written yet are written once nothing was stored or acked for this
   * long (ms), or at the latest SETTLE_AGE_MS after the first of them, or at SETTLE_ENTRIES.
   */
  settleQuietMs?: number;
}

export interface CloudMessage {
  topic: 'event' | 'event_batch' | 'offline_batch_start' | 'offline_batch_end';
  payload: Record<string, unknown>;
}

export interface StoreFigures {
  pending: number;
  oldestPendingAgeS: number | null;
  inFlight: number;
  failed: number;
  /** null in quickFigures(). */
  synced: number | null;
  cloudConnected: boolean;
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  databaseBytes: number;
  freeDiskBytes: number | null;
  lastWriteError: string | null;
  /** The alarms in words, for logs and the status. */
  alarms: string[];
  /** The same alarms as codes and figures, for views that word them in their own language. */
  alarmCodes: StoreAlarm[];
}

export type StoreAlarm =
  { code: 'disk-low'; freeMiB: number; minMiB: number } | { code: 'backlog-old'; minutes: number } | { code: 'write-failed'; error: string };

function alarmText(a: StoreAlarm): string {
  switch (a.code) {
    case 'disk-low':
      return `free disk ${a.freeMiB} MiB is under ${a.minMiB} MiB`;
    case 'backlog-old':
      return `oldest unsent event is ${a.minutes} min old`;
    case 'write-failed':
      return `last write failed: ${a.error}`;
  }
}

export interface ServiceEvents {
  cloud: [message: CloudMessage];
  failed: [info: { localEventId: string; reason: string }];
  warning: [message: string];
  /**
   * The disk under the database failed (isDiskFault, or an fsync of the WAL): emitted once.
   * From then on every event is refused; whoever runs the service closes it and opens the
   * database again (nodes/shared/startup.ts). Timers and callbacks of this service report here
   * instead of throwing.
   */
  fault: [err: Error];
}

interface Waiting {
  event: StorableEvent;
  resolve: (inserted: boolean) => void;
  reject: (err: Error) => void;
}

/** Bytes free to unprivileged writers on the file system holding `file`. */
export function freeDiskBytes(file: string): number | null {
  try {
    const s = fs.statfsSync(path.dirname(file));
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/** Store services per database: with two, the live rows are read back from the table (the sender sends both's). */
const servicesOn = new WeakMap<SqliteDatabase, number>();

/**
 * The store services of each database file, oldest first: the first one is the only one that
 * sends to the Cloud. Two senders on one database would each send every pending event (and
 * each resend on its own timeouts). The others store, answer `ack`, and apply the Cloud's acks;
 * they say which one sends. When the sender closes, the next one takes over.
 */
const senders = new Map<string, StoreService[]>();

export class StoreService extends EventEmitter<ServiceEvents> {
  /** The events table and its bookkeeping. */
  readonly log: EventLog;
  /** Offline batches: which announcements the Cloud has been handed. */
  readonly batches: OfflineBatches;
  private readonly outbox: Outbox;
  private readonly now: () => number;
  private readonly clock: Clock;
  /** null when the database was opened without fsyncs (durability `normal`). */
  private readonly walSync: WalSync | null;
  private queue: Waiting[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  /** Copies the WAL into the database off the event loop (null for a database without WAL). */
  private readonly checkpointer: Checkpointer | null;
  /** When the bookkeeping (acks, ids) is written: see settleQuietMs. */
  private settleTimer: NodeJS.Timeout | null = null;
  private lastActivity = 0;
  /** Acks of this tick for events this store does not hold, reported together. */
  private unknownAcks: string[] = [];
  private acksScheduled = false;
  private closed = false;
  /** The disk fault this service hit (see the `fault` event), or null. */
  private faulted: Error | null = null;
  /** The last counts read, shown while a read fails. */
  private lastCounts = { pending: 0, failed: 0, synced: null as number | null, oldestPendingStoredAt: null as number | null };
  private readonly fileKey: string | null;
  lastWriteError: string | null = null;
  /** Since this service started: events newly stored, acknowledged by the Cloud, rejected. */
  readonly totals = { stored: 0, delivered: 0, failed: 0 };
  /** Send-to-ack times of the acks received since start (for /metrics). */
  readonly ackLatency = { count: 0, sumMs: 0 };

  constructor(
    readonly db: SqliteDatabase,
    private readonly o: StoreServiceOptions,
  ) {
    super();
    this.clock = o.clock ?? systemClock;
    this.now = o.now ?? this.clock.wall;
    this.log = EventLog.of(db);
    this.batches = new OfflineBatches(db, o.siteId);
    this.outbox = new Outbox(this.log, o);
    // synchronous=FULL: the fsync of each group runs off the event loop (see WalSync).
    // Only in WAL mode (a file system without it keeps the rollback journal: then every
    // commit fsyncs itself, as before).
    const full = (db.pragma('synchronous', { simple: true }) as number) >= 2;
    const wal = String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    this.walSync = full && wal && !db.memory ? new WalSync(`${db.name}-wal`, o.fsync) : null;
    this.checkpointer = wal && !db.memory ? Checkpointer.attach(db, o.checkpoints) : null;
    this.checkpointer?.on('release', this.onRelease);
    this.checkpointer?.on('error', this.onCheckpointError);
    servicesOn.set(db, (servicesOn.get(db) ?? 0) + 1);
    this.fileKey = db.memory ? null : path.resolve(db.name);
    if (this.fileKey) {
      const list = senders.get(this.fileKey) ?? [];
      list.push(this);
      senders.set(this.fileKey, list);
    }
  }

  get connected(): boolean {
    return this.outbox.isConnected;
  }

  /** Whether this service sends to the Cloud (the first store service on its database does). */
  get isSender(): boolean {
    return !this.fileKey || senders.get(this.fileKey)?.[0] === this;
  }

  /** The name of the service that sends for this database, when it is not this one. */
  get sender(): string | null {
    if (this.isSender || !this.fileKey) return null;
    return senders.get(this.fileKey)?.[0]?.o.name ?? 'another event-store';
  }

  /** The disk fault this service hit, or null. */
  get fault(): Error | null {
    return this.faulted;
  }

  /**
   * An error from a timer or callback: a disk fault is reported once on `fault` (the service
   * refuses events from then on), anything else as a warning. Never thrown: an exception
   * thrown on a timer would take Node-RED down.
   */
  private report(err: unknown, what: string): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (this.closed) return;
    if (isDiskFault(e) || !this.db.open) {
      if (this.faulted) return;
      this.faulted = e;
      this.lastWriteError = `disk fault: ${e.message}`;
      this.emit('fault', e);
    } else {
      this.emit('warning', `${what}: ${e.message}`);
    }
  }

  /**
   * Stores one event durably. Events submitted within `groupDelayMs` of each other are
   * committed in one transaction (group commit), and the fsync runs off the event loop.
   * Resolves once the commit is on disk (false when that localEventId was already stored);
   * rejects when the write failed, and then nothing of it was stored, or when the fsync failed.
   */
  submit(event: unknown): Promise<boolean> {
    const problem = validateStorableEvent(event);
    if (problem) return Promise.reject(new Error(`event not stored: ${problem}`));
    if (this.closed) return Promise.reject(new Error('event not stored: the store is closed'));
    if (this.faulted) return Promise.reject(new Error(`event not stored: the disk failed (${this.faulted.message})`));
    return new Promise((resolve, reject) => {
      this.queue.push({ event: event as StorableEvent, resolve, reject });
      if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), this.o.groupDelayMs ?? 1);
    });
  }

  /**
   * Writes whatever is queued now (also called on close, so nothing accepted is left behind).
   * While the checkpointer holds commits back (the WAL is starting over), the queue waits for
   * its `release`; `force` (close) writes anyway.
   */
  flush(force = false): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (!force && this.checkpointer?.holding) return;
    const max = this.o.maxGroup ?? 500;
    const stored: PendingRow[] = [];
    while (this.queue.length) {
      const group = this.queue.splice(0, max);
      let seqs: Array<number | null>;
      try {
        seqs = this.log.writeGroup(
          group.map((w) => w.event),
          this.now(),
          this.walSync === null,
          this.clock.mono(),
        );
        this.lastWriteError = null;
      } catch (e) {
        const err = e as Error & { code?: string };
        this.lastWriteError = err.code === 'SQLITE_FULL' ? `disk or database full (${err.message})` : err.message;
        for (const w of group) w.reject(new Error(`event ${w.event.localEventId} not stored: ${this.lastWriteError}`));
        if (isDiskFault(err) || !this.db.open) {
          // The rest of the queue is refused too: this connection is given up.
          this.report(err, 'write');
          for (const w of this.queue.splice(0)) w.reject(new Error(`event ${w.event.localEventId} not stored: ${this.lastWriteError}`));
          break;
        }
        continue;
      }
      this.checkpointer?.noteCommit();
      const settle = (err: Error | null): void => {
        if (err) {
          for (const w of group) w.reject(new Error(`event ${w.event.localEventId} not confirmed on disk: ${err.message}`));
          // A failed fsync is a disk fault whatever its code: what the kernel could not write may be gone.
          if (!this.faulted && !this.closed) {
            this.faulted = err;
            this.lastWriteError = err.message;
            this.emit('fault', err);
          }
          return;
        }
        group.forEach((w, i) => {
          if (seqs[i] !== null) this.totals.stored++;
          w.resolve(seqs[i] !== null);
        });
      };
      // Reported stored once on disk; meanwhile the Cloud may already have it (that is no loss).
      if (this.walSync) this.walSync.afterCommit(settle);
      else settle(null);
      group.forEach((w, i) => {
        const seq = seqs[i];
        if (seq !== null) stored.push({ seq, localEventId: w.event.localEventId, deviceId: w.event.deviceId, event: w.event });
      });
    }
    if (stored.length) this.scheduleSettle();
    this.pump(this.soleWriter() ? stored : []);
  }

  private readonly onRelease = (): void => {
    if (this.closed) return;
    if (this.queue.length && !this.flushTimer) this.flush();
    this.scheduleSettle();
  };

  private readonly onCheckpointError = (err: Error): void => {
    if (isDiskFault(err)) this.report(err, 'checkpoint');
    else this.emit('warning', err.message);
  };

  /**
   * The bookkeeping (acks, new rows' ids) is written in one transaction without an fsync: at
   * once when SETTLE_ENTRIES wait, else once the store has been quiet for settleQuietMs, at the
   * latest SETTLE_AGE_MS after the first entry. At 2 weighings a second that is one write of
   * the acks of 60 weighings instead of 60 (see EventLog).
   */
  private scheduleSettle(): void {
    this.lastActivity = this.clock.mono();
    const { entries } = this.log.buffered;
    if (entries >= SETTLE_ENTRIES) {
      if (this.settleTimer) clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => this.settleDue(), 0);
    } else if (entries > 0) this.settleLater();
  }

  /** A settle after the quiet time, unless one is due already. */
  private settleLater(): void {
    if (!this.settleTimer && !this.closed) this.settleTimer = setTimeout(() => this.settleDue(), this.o.settleQuietMs ?? 2000);
  }

  private settleDue(): void {
    this.settleTimer = null;
    if (this.closed || this.faulted) return;
    const { entries, since } = this.log.buffered;
    if (!entries) return;
    const now = this.clock.mono();
    const waitQuiet = this.lastActivity + (this.o.settleQuietMs ?? 2000) - now;
    const waitAge = (since ?? now) + SETTLE_AGE_MS - now;
    if (entries < SETTLE_ENTRIES && waitQuiet > 0 && waitAge > 0) {
      this.settleTimer = setTimeout(() => this.settleDue(), Math.max(1, Math.min(waitQuiet, waitAge)));
      return;
    }
    this.settleSteps();
  }

  /**
   * Writes the bookkeeping a step (SETTLE_STEP acks and ids) per event-loop turn, so the scales'
   * OKs never wait long behind it, until less than a step is left; that rest waits for the next
   * settle.
   */
  private settleSteps(): void {
    this.settleTimer = null;
    if (this.closed || this.faulted) return;
    if (this.checkpointer?.holding) return; // written after the release
    if (!this.settleNow(SETTLE_STEP)) return;
    const { entries } = this.log.buffered;
    if (entries >= SETTLE_STEP) this.settleTimer = setTimeout(() => this.settleSteps(), 0);
    else if (entries > 0) this.settleLater();
  }

  /** Writes the bookkeeping now (all of it, or a step); a failure is reported and it is tried again later. */
  settleNow(step = Infinity): boolean {
    try {
      this.log.settle(step);
      this.checkpointer?.noteCommit();
      return true;
    } catch (err) {
      if (isDiskFault(err) || !this.db.open) this.report(err, 'writing acks');
      else {
        this.emit('warning', `acks not written yet: ${(err as Error).message}; tried again`);
        this.settleLater();
      }
      return false;
    }
  }

  /** Whether this is the only store service on its database (then new rows go out from memory). */
  private soleWriter(): boolean {
    return (servicesOn.get(this.db) ?? 0) === 1;
  }

  /** The Cloud link went up or down. On connect: batch starts, the backlog, batch ends. */
  setConnected(connected: boolean): void {
    // cloud_status repeats while connected (edge id, attempt counter): only a change counts.
    if (connected === this.outbox.isConnected) return;
    this.outbox.setConnected(connected);
    if (!connected) return;
    this.announceAndPump();
  }

  /** On connect (or on becoming the sender): batch starts, batch ends, the backlog. */
  private announceAndPump(): void {
    if (!this.isSender || !this.outbox.isConnected || this.faulted) return;
    try {
      this.sendStarts();
      this.sendEnds();
    } catch (err) {
      this.report(err, 'offline batch announcements');
      return;
    }
    this.pump();
  }

  private sendStarts(): void {
    const now = this.now();
    for (const b of this.batches.unsentStarts()) {
      this.batches.markStartSent(b.batchId, now);
      this.emit('cloud', { topic: 'offline_batch_start', payload: { ...this.batches.startPayload(b) } });
    }
  }

  /**
   * Sends what the window has room for, oldest first. Only the sender sends (see `senders`).
   * A read that fails is reported (the `fault` event), never thrown: this runs on timers.
   */
  pump(stored: PendingRow[] = []): void {
    if (!this.outbox.isConnected || this.faulted || this.closed || !this.isSender) return;
    let pages: PendingRow[][];
    try {
      pages = this.outbox.take(this.clock.mono(), stored);
    } catch (err) {
      this.report(err, 'reading the backlog');
      return;
    }
    for (const page of pages) {
      if (page.length === 1) this.emit('cloud', { topic: 'event', payload: page[0].event });
      else this.emit('cloud', { topic: 'event_batch', payload: { events: page.map((r) => r.event) } });
    }
  }

  /** `offline_batch_start` from session-cache: forwarded now if the link is up, else on connect. */
  batchStart(payload: unknown): void {
    const start = batchAnnouncementFrom('offline_batch_start', payload);
    const id = start.batchId;
    // Not the sender: the sender announces it (its timer looks for unsent batches, see expireAcks).
    if (!this.outbox.isConnected || !this.isSender) return;
    if (this.batches.get(id)) this.batches.markStartSent(id, this.now());
    this.emit('cloud', { topic: 'offline_batch_start', payload: start });
  }

  /** `offline_batch_end`: the figures are the store's own, forwarded now or on connect. */
  batchEnd(payload: unknown): void {
    const end = batchAnnouncementFrom('offline_batch_end', payload);
    const id = end.batchId;
    if (!this.isSender) return;
    if (!this.batches.get(id)) {
      // Not a batch of this database: still report what this store holds for it.
      if (this.outbox.isConnected) this.emit('cloud', { topic: 'offline_batch_end', payload: { ...end, ...this.log.batchTotals(id) } });
      else this.emit('warning', `offline_batch_end for unknown batch ${id} while the Cloud is away: dropped (the batch is not in this site database)`);
      return;
    }
    this.sendEnds();
  }

  private sendEnds(): void {
    if (!this.outbox.isConnected || !this.isSender) return;
    const now = this.now();
    for (const b of this.batches.unsentEnds()) {
      this.batches.markEndSent(b.batchId, now);
      this.emit('cloud', {
        topic: 'offline_batch_end',
        payload: { ...this.batches.endPayload(b as OfflineBatch & { endedAt: string }), ...this.log.batchTotals(b.batchId) },
      });
    }
  }

  /**
   * `event_ack`: accepted or duplicate both mean the Cloud has it. Noted now (the window, the
   * figures), written later with the other acks (see scheduleSettle; and on close, before the
   * database closes); acks for events this store does not hold are reported as a `warning`.
   */
  ack(payload: unknown): void {
    const { localEventId, cloudEventId } = eventAckFrom(payload);
    if (this.closed) throw new Error(`event_ack for ${localEventId} not written: the store is closed`);
    if (this.faulted) return; // not written: the event stays pending and goes out again after the reopen
    const mono = this.clock.mono();
    const seq = this.outbox.seqOf(localEventId);
    const ms = this.outbox.settled(localEventId, mono);
    if (ms !== null) {
      this.ackLatency.count++;
      this.ackLatency.sumMs += ms;
    }
    let r;
    try {
      r = this.log.markSynced(localEventId, cloudEventId ?? null, this.now(), seq, mono);
    } catch (err) {
      this.report(err, 'reading an acknowledged event');
      return;
    }
    if (r === 'synced') this.totals.delivered++;
    if (r === 'unknown') this.unknownAcks.push(localEventId);
    this.scheduleSettle();
    if (!this.acksScheduled) {
      this.acksScheduled = true;
      setImmediate(() => this.afterAcks());
    }
  }

  /** Once per tick after acks: the warning for unknown ones, and the window refilled once. */
  private afterAcks(): void {
    this.acksScheduled = false;
    const unknown = this.unknownAcks.splice(0);
    if (unknown.length && !this.closed)
      this.emit(
        'warning',
        `event_ack for ${unknown.length} event(s) this store does not hold: ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ', ...' : ''}`,
      );
    if (!this.closed) this.pump();
  }

  /** `event_rejected`: the Cloud will never take it. Kept, marked failed, surfaced. */
  reject(payload: unknown): 'failed' | 'not-pending' | 'unknown' {
    const { localEventId: id, reason } = eventRejectedFrom(payload);
    const r = this.log.markFailed(id, reason);
    this.outbox.settled(id, this.clock.mono());
    if (r === 'failed') {
      this.totals.failed++;
      this.emit('failed', { localEventId: id, reason });
    }
    this.pump();
    return r;
  }

  /**
   * cloud-link's grouped acks (`event_acks`, read by lib/protocol/wire.ts): each applied as if
   * it came alone, so a bad one does not hold the others back. Returns the ids of rejections
   * for events this store does not hold, and what was refused, in one error (null if nothing).
   */
  applyAcks(group: { acks: unknown[]; rejected: unknown[] }): { unknownRejections: string[]; error: string | null } {
    const refused: string[] = [];
    const unknownRejections: string[] = [];
    const each = (items: unknown[], apply: (item: unknown) => void): void => {
      for (const item of items) {
        try {
          apply(item);
        } catch (err) {
          refused.push((err as Error).message);
        }
      }
    };
    each(group.acks, (a) => this.ack(a));
    each(group.rejected, (r) => {
      if (this.reject(r) === 'unknown') unknownRejections.push(String(asRecord(r).localEventId));
    });
    return { unknownRejections, error: refused.length ? `event_acks: ${refused.length} item(s) refused: ${refused.slice(0, 3).join('; ')}` : null };
  }

  retryFailed(): number {
    const n = this.log.retryFailed();
    this.outbox.rescan();
    this.pump();
    return n;
  }

  /**
   * Re-queues events whose ack did not come in time; called on a timer. With other store
   * services on the database the sender also sends, from here, what they stored and the
   * batches they were told of (it is not told when they store).
   */
  expireAcks(): number {
    const n = this.outbox.expire(this.clock.mono());
    if (!this.soleWriter() && this.isSender && this.outbox.isConnected && !this.faulted) {
      try {
        this.sendStarts();
        this.sendEnds();
      } catch (err) {
        this.report(err, 'offline batch announcements');
      }
      this.pump();
    } else if (n) this.pump();
    return n;
  }

  /** The store's figures. */
  figures(): StoreFigures {
    return this.readFigures(true);
  }

  /** The figures without the synced total (a count over the whole table): for frequent status updates. */
  quickFigures(): StoreFigures {
    return this.readFigures(false);
  }

  private readFigures(withSynced: boolean): StoreFigures {
    const now = this.now();
    let c = this.lastCounts;
    if (!this.faulted && this.db.open) {
      try {
        c = this.lastCounts = this.log.counts(withSynced);
      } catch (err) {
        // Shown with the last counts and the fault as an alarm; never thrown (this runs on timers).
        this.report(err, 'reading the figures');
        if (!this.lastWriteError) this.lastWriteError = `cannot read the database: ${(err as Error).message}`;
      }
    }
    const file = this.db.name;
    let databaseBytes = 0;
    for (const f of [file, `${file}-wal`]) {
      try {
        databaseBytes += fs.statSync(f).size;
      } catch {
        /* no WAL file yet */
      }
    }
    const free = freeDiskBytes(file);
    const oldestAge = c.oldestPendingStoredAt === null ? null : Math.max(0, Math.round((now - c.oldestPendingStoredAt) / 1000));
    const alarmCodes: StoreAlarm[] = [];
    if (free !== null && free < this.o.minFreeDiskBytes)
      alarmCodes.push({ code: 'disk-low', freeMiB: Math.round(free / 2 ** 20), minMiB: Math.round(this.o.minFreeDiskBytes / 2 ** 20) });
    if (oldestAge !== null && oldestAge * 1000 > this.o.maxPendingAgeMs) alarmCodes.push({ code: 'backlog-old', minutes: Math.round(oldestAge / 60) });
    if (this.lastWriteError) alarmCodes.push({ code: 'write-failed', error: this.lastWriteError });
    return {
      pending: c.pending,
      oldestPendingAgeS: oldestAge,
      inFlight: this.outbox.inFlight,
      failed: c.failed,
      synced: c.synced,
      cloudConnected: this.outbox.isConnected,
      lastAttemptAt: this.outbox.lastAttemptAt === null ? null : wallIso(this.clock, this.outbox.lastAttemptAt),
      lastSuccessAt: this.outbox.lastSuccessAt === null ? null : wallIso(this.clock, this.outbox.lastSuccessAt),
      databaseBytes,
      freeDiskBytes: free,
      lastWriteError: this.lastWriteError,
      alarms: alarmCodes.map(alarmText),
      alarmCodes,
    };
  }

  /** Deletes one chunk of synced events past retention; returns how many went. */
  retentionChunk(chunk = 500): number {
    const cutoff = this.now() - this.o.retentionDays * 86_400_000;
    return this.log.deleteSyncedBefore(cutoff, chunk);
  }

  /** Online backup of the live database (better-sqlite3's backup API). */
  async backup(target: string): Promise<{ path: string; totalPages: number }> {
    const file = path.resolve(target);
    if (file === path.resolve(this.db.name)) throw new Error('backup: the target is the live database itself');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const r = await this.db.backup(file);
    return { path: file, totalPages: r.totalPages };
  }

  /** Writes what is queued (on a faulted service: refuses it) and refuses what comes after. */
  close(): void {
    if (this.faulted) {
      if (this.flushTimer) clearTimeout(this.flushTimer);
      this.flushTimer = null;
      for (const w of this.queue.splice(0)) w.reject(new Error(`event ${w.event.localEventId} not stored: the disk failed (${this.faulted.message})`));
    } else {
      this.flush(true);
      if (this.db.open) this.settleNow(); // the acks received so far, so nothing goes twice after a redeploy
    }
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    if (this.checkpointer && !this.closed) {
      this.checkpointer.off('release', this.onRelease);
      this.checkpointer.off('error', this.onCheckpointError);
      Checkpointer.detach(this.db);
    }
    try {
      this.walSync?.close();
    } catch {
      /* the WAL file's descriptor on a dead disk: released either way */
    }
    if (!this.closed) {
      servicesOn.set(this.db, (servicesOn.get(this.db) ?? 1) - 1);
      const list = this.fileKey ? senders.get(this.fileKey) : undefined;
      if (list) {
        const wasSender = list[0] === this;
        list.splice(list.indexOf(this), 1);
        if (!list.length) senders.delete(this.fileKey!);
        else if (wasSender) {
          // The next one sends from now on: from the oldest pending event, as after a connect.
          const next = list[0];
          next.outbox.rescan();
          next.emit('warning', `now sends this database's events to the Cloud (${this.o.name ?? 'the sender'} closed)`);
          next.announceAndPump();
        }
      }
    }
    this.closed = true;
    this.removeAllListeners();
  }
}
