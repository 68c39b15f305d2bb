import type { EventLog, PendingRow } from './event-log';

/**
 * What is on its way to the Cloud. The store's pending rows are the queue; this only
 * remembers which of them were sent and await an ack (at most `window`), and where the
 * backlog scan stands. Memory is bounded by the window, never by the backlog.
 */
export interface OutboxOptions {
  batchSize: number;
  window: number;
  ackTimeoutMs: number;
}

/** Times given to this class are monotonic (see lib/util/clock.ts). */
interface InFlight {
  seq: number;
  sentAt: number;
}

export class Outbox {
  private readonly inflight = new Map<string, InFlight>();
  /** Highest seq handed out since the last rescan. */
  private cursor = 0;
  /**
   * The last scan reached the end of the backlog and every row stored since was handed out:
   * the next rows are the ones just stored, and they go out from memory instead of being
   * read back (and parsed) from the database.
   */
  private caughtUp = false;
  private connected = false;
  lastAttemptAt: number | null = null;
  lastSuccessAt: number | null = null;

  constructor(
    private readonly store: EventLog,
    private readonly o: OutboxOptions,
  ) {}

  get isConnected(): boolean {
    return this.connected;
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  /** On connect the backlog is scanned from the oldest; on disconnect nothing is in flight. */
  setConnected(connected: boolean): void {
    this.connected = connected;
    this.inflight.clear();
    this.rescan();
  }

  /**
   * The next pages to send, oldest first, while the window has room. A page of one is
   * sent as a single `event`, longer ones as an `event_batch`. `stored` are the rows this
   * store has just written (seq order), when it is the only writer of events in the database.
   */
  take(now: number, stored: PendingRow[] = []): PendingRow[][] {
    const pages: PendingRow[][] = [];
    let next = 0; // the first of `stored` not handed out
    // Bounded: each pass either fills the window or reaches the end of the backlog.
    const page = Math.min(this.o.batchSize, this.o.window);
    for (let pass = 0; this.connected && this.inflight.size < this.o.window && pass < 1000; pass++) {
      // The window is refilled a page at a time: a trickle of acks does not become a trickle
      // of one-event frames (only an empty window sends whatever is there, for live events).
      const free = this.o.window - this.inflight.size;
      if (pass === 0 && free < page && this.inflight.size > 0) break;
      const room = Math.min(page, free);
      let rows: PendingRow[];
      if (this.caughtUp && next < stored.length && stored[next].seq > this.cursor) {
        rows = stored.slice(next, next + room);
        next += rows.length;
      } else {
        rows = this.store.pendingPage(this.cursor, room);
        this.caughtUp = rows.length < room;
        next = stored.length; // read from the database, they are in there
      }
      if (rows.length === 0) break;
      this.cursor = rows[rows.length - 1].seq;
      const fresh = rows.filter((r) => !this.inflight.has(r.localEventId));
      for (const r of fresh) this.inflight.set(r.localEventId, { seq: r.seq, sentAt: now });
      if (fresh.length) pages.push(fresh);
      if (this.caughtUp && next === stored.length) break; // the end of the backlog: no read to find nothing
    }
    // Rows left over stay in the database beyond the cursor: the next take reads them.
    if (next < stored.length) this.caughtUp = false;
    if (pages.length) this.lastAttemptAt = now;
    return pages;
  }

  /** The seq of an event in flight (what an ack names), or null. */
  seqOf(localEventId: string): number | null {
    return this.inflight.get(localEventId)?.seq ?? null;
  }

  /** The Cloud answered for this event (ack or rejection); returns ms since it was sent, or null. */
  settled(localEventId: string, now: number): number | null {
    const f = this.inflight.get(localEventId);
    if (!f) return null;
    this.inflight.delete(localEventId);
    this.lastSuccessAt = now;
    return now - f.sentAt;
  }

  /** Events without an ack for `ackTimeoutMs` go back to the queue; returns how many. */
  expire(now: number): number {
    let expired = 0;
    let lowest = Infinity;
    for (const [id, f] of this.inflight) {
      if (now - f.sentAt >= this.o.ackTimeoutMs) {
        this.inflight.delete(id);
        lowest = Math.min(lowest, f.seq);
        expired++;
      }
    }
    if (expired) {
      this.cursor = Math.min(this.cursor, lowest - 1);
      this.caughtUp = false;
    }
    return expired;
  }

  /** Rejected events were retried: scan from the start again. */
  rescan(): void {
    this.cursor = 0;
    this.caughtUp = false;
  }
}
