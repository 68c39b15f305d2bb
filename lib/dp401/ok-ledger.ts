import { DuplicateFilter, type DuplicateHit } from './duplicate-filter';

/**
 * Which weighings wait for the store's `OK`, and whether a repeat is stored: one unit, because
 * the two answers depend on each other. A DP-401 sends its next weighing only after the `OK` for
 * the last one, and resends a weighing that got none. A repeat within the duplicate window is
 * not stored again; it gets its `OK` with its original's. But a weighing may only stand as the
 * original while it is stored or its store is still pending: whatever ends its wait unanswered
 * (the store refused it, its socket closed, the ledger was full) forgets it here as an original
 * too, so the scale's resend is stored as new and never answered `OK` unstored.
 *
 * It also counts, per connection, the weighings (originals and repeats) that wait, which is what
 * flow control reads. It knows connections only by id and writes nothing to sockets: each answer
 * says which connections get `OK` and whose counts went down. Time is the monotonic clock.
 */

/** A weighing waiting longer than this for the store's OK is late: the node status and the tab say so. */
export const OK_LATE_MS = 10_000;

/** What makes two weighings the same weighing. */
export interface WeighingKey {
  deviceId: string;
  pluCode: string;
  weightGrams: number;
  tareGrams: number;
}

/** Connections whose waiting counts went down (one entry per weighing): they may be read again. */
export type Release = readonly string[];

export type Taken =
  /**
   * New: to be stored. `okNow` when OKs are not held (ack mode "receipt"); otherwise it waits
   * for the store, and `dropped` is the oldest waiting weighing forgotten to make room for it.
   */
  | { duplicate: null; okNow: boolean; dropped: Release | null }
  /** A repeat of `duplicate.originalEventId`: not stored. Its OK goes now, or with its original's. */
  | { duplicate: DuplicateHit; okNow: boolean };

export interface Answered {
  /** The connection of the weighing's scale: the ledger's if it knew the weighing, else the one asked for. */
  connectionId: string;
  /** The connections of its repeats, also owed this OK (before the scale's own). */
  repeats: string[];
  /** Null when the ledger did not know the weighing (answered already, forgotten, or never held). */
  release: Release | null;
}

export interface OkLedgerOptions {
  /** Repeats within this many ms of the original are duplicates; 0 turns the filter off. */
  duplicateWindowMs: number;
  /** Ack mode "store": a weighing's OK waits for the store. Otherwise every OK goes at once. */
  holdOks: boolean;
  /** Weighings waiting at most; over it the oldest is forgotten (default 10,000). */
  maxWaiting?: number;
}

interface Waiting {
  connectionId: string;
  /** Connections whose repeats of this weighing wait for its OK, one entry each. */
  repeats: string[];
  since: number;
}

export class OkLedger {
  readonly holdOks: boolean;
  readonly maxWaiting: number;
  private readonly duplicates: DuplicateFilter;
  /** By local event id, oldest first. */
  private readonly waiting = new Map<string, Waiting>();
  /** Per connection: its weighings (originals and repeats) waiting; no entry for none. */
  private readonly counts = new Map<string, number>();

  constructor(options: OkLedgerOptions) {
    this.holdOks = options.holdOks;
    this.maxWaiting = options.maxWaiting ?? 10_000;
    this.duplicates = new DuplicateFilter(options.duplicateWindowMs);
  }

  /** Weighings waiting for the store's OK. */
  get size(): number {
    return this.waiting.size;
  }

  /** Weighings of this connection (originals and repeats) waiting for OK. */
  waitingOf(connectionId: string): number {
    return this.counts.get(connectionId) ?? 0;
  }

  /** Monotonic time the oldest waiting weighing came in; null when none waits. */
  oldestSince(): number | null {
    const first = this.waiting.values().next().value;
    return first ? first.since : null;
  }

  /** Per connection, since when its oldest weighing waits (connections with none are absent). */
  waitingSince(): Map<string, number> {
    const out = new Map<string, number>();
    // Oldest first: the first entry per connection wins.
    for (const w of this.waiting.values()) if (!out.has(w.connectionId)) out.set(w.connectionId, w.since);
    return out;
  }

  /** A well-formed weighing came in on `connectionId`: is it a repeat, and when does it get OK? */
  take(connectionId: string, key: WeighingKey, eventId: string, now: number): Taken {
    const hit = this.duplicates.check(DuplicateFilter.key(key.deviceId, key.pluCode, key.weightGrams, key.tareGrams), eventId, now);
    if (hit) {
      // The original either is stored or waits for its store on a live socket: one that can no
      // longer be answered was forgotten as an original too, so `hit` is null then.
      const original = this.waiting.get(hit.originalEventId);
      if (!original || !this.holdOks) return { duplicate: hit, okNow: true };
      original.repeats.push(connectionId);
      this.count(connectionId);
      return { duplicate: hit, okNow: false };
    }
    if (!this.holdOks) return { duplicate: null, okNow: true, dropped: null };
    let dropped: Release | null = null;
    if (this.waiting.size >= this.maxWaiting) {
      const oldest = this.waiting.keys().next().value;
      if (oldest !== undefined) dropped = this.forget(oldest);
    }
    this.waiting.set(eventId, { connectionId, repeats: [], since: now });
    this.count(connectionId);
    return { duplicate: null, okNow: false, dropped };
  }

  /**
   * The store has the weighing: who gets `OK` for it. Without an event id, the connection's
   * oldest waiting weighing is meant.
   */
  answer(connectionId: string, eventId?: string): Answered {
    const id = eventId ?? this.oldestOf(connectionId);
    const w = id === undefined ? undefined : this.waiting.get(id);
    if (!w || id === undefined) return { connectionId, repeats: [], release: null };
    this.waiting.delete(id);
    return { connectionId: w.connectionId, repeats: w.repeats, release: this.uncount(w) };
  }

  /** The store could not keep this weighing: no OK for it, and a resend is stored as new. */
  refuse(eventId: string): Release | null {
    this.duplicates.forget(eventId);
    return this.forget(eventId);
  }

  /**
   * The connection is gone: its weighings can no longer be answered, so they stop being
   * originals (a resend on a new socket is stored as new), and its repeats stop waiting. One
   * release per weighing of its, in order.
   */
  closed(connectionId: string): Release[] {
    this.counts.delete(connectionId);
    const gone: Release[] = [];
    for (const [id, w] of this.waiting) {
      if (w.connectionId === connectionId) {
        const release = this.forget(id);
        if (release) gone.push(release);
      } else if (w.repeats.includes(connectionId)) {
        w.repeats = w.repeats.filter((c) => c !== connectionId);
      }
    }
    return gone;
  }

  /** Everything stops waiting (the gateway stopped); repeats seen stay known as such. */
  clear(): void {
    this.waiting.clear();
    this.counts.clear();
  }

  private oldestOf(connectionId: string): string | undefined {
    for (const [id, w] of this.waiting) if (w.connectionId === connectionId) return id;
    return undefined;
  }

  /** Ends a weighing's wait unanswered: it is no original any more. */
  private forget(eventId: string): Release | null {
    const w = this.waiting.get(eventId);
    if (!w) return null;
    this.waiting.delete(eventId);
    this.duplicates.forget(eventId);
    return this.uncount(w);
  }

  private count(connectionId: string): void {
    this.counts.set(connectionId, this.waitingOf(connectionId) + 1);
  }

  private uncount(w: Waiting): Release {
    const conns = [w.connectionId, ...w.repeats];
    for (const c of conns) {
      const n = this.counts.get(c);
      if (n === undefined) continue;
      if (n > 1) this.counts.set(c, n - 1);
      else this.counts.delete(c);
    }
    return conns;
  }
}
