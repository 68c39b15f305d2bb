/**
 * The DP-401 often sends one weighing twice within 1-2 s (weigh, then label print). A line
 * with the same device, PLU, net and tare within the window is a duplicate of the first.
 *
 * A weighing may only stand as the original while it is stored or its store is still
 * pending: the OkLedger (ok-ledger.ts), the only user, `forget`s one whose store failed or
 * whose wait ended unanswered, so a resend is taken as a new weighing, never answered `OK`
 * unstored.
 * Time is the monotonic clock: a wall-clock step cannot make two weighings "simultaneous".
 */
export interface DuplicateHit {
  originalEventId: string;
  firstSeenAt: number;
}

interface Entry extends DuplicateHit {
  key: string;
}

/**
 * Bounded: entries older than the window go, and never more than `maxEntries` are kept.
 * `order` holds the entries in the order they came (time order): the oldest are found at its
 * head in O(1). A Map alone would do that by iterating from its start, which in V8 walks over
 * every entry deleted since the Map last rehashed: at 10,000 weighings a second that made each
 * check cost up to 19 µs, measured.
 */
export class DuplicateFilter {
  private readonly seen = new Map<string, Entry>();
  private readonly keyOf = new Map<string, string>();
  /** Entries by age; those no longer in `seen` (forgotten, replaced) are skipped when reached. */
  private order: Entry[] = [];
  private head = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 4096,
  ) {}

  static key(deviceId: string, pluCode: string, netGrams: number, tareGrams: number): string {
    return `${deviceId}\u0000${pluCode}\u0000${netGrams}\u0000${tareGrams}`;
  }

  /** Returns the earlier event this one repeats, or records it as new and returns null. */
  check(key: string, eventId: string, now: number): DuplicateHit | null {
    if (this.windowMs <= 0) return null;
    this.prune(now);
    const hit = this.seen.get(key);
    if (hit && now >= hit.firstSeenAt && now - hit.firstSeenAt <= this.windowMs) return { originalEventId: hit.originalEventId, firstSeenAt: hit.firstSeenAt };
    if (hit) this.remove(key);
    while (this.seen.size >= this.maxEntries) this.dropOldest();
    const entry: Entry = { key, originalEventId: eventId, firstSeenAt: now };
    this.seen.set(key, entry);
    this.keyOf.set(eventId, key);
    this.order.push(entry);
    // Skipped entries pile up behind a live head only while forgets outpace the window: bounded.
    if (this.order.length - this.head > 2 * this.maxEntries) this.compact();
    return null;
  }

  /** This weighing will not be stored (or nobody will learn that it was): it is no original. */
  forget(eventId: string): void {
    const key = this.keyOf.get(eventId);
    if (key !== undefined) this.remove(key);
  }

  get size(): number {
    return this.seen.size;
  }

  private live(e: Entry): boolean {
    return this.seen.get(e.key) === e;
  }

  private remove(key: string): void {
    const hit = this.seen.get(key);
    if (hit) this.keyOf.delete(hit.originalEventId);
    this.seen.delete(key);
  }

  /** Drops entries older than the window (and skipped ones) from the head. */
  private prune(now: number): void {
    while (this.head < this.order.length) {
      const e = this.order[this.head];
      if (this.live(e)) {
        if (now - e.firstSeenAt <= this.windowMs) break;
        this.remove(e.key);
      }
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) this.compact();
  }

  /** Drops the oldest live entry (the filter is full). */
  private dropOldest(): void {
    while (this.head < this.order.length) {
      const e = this.order[this.head++];
      if (this.live(e)) {
        this.remove(e.key);
        return;
      }
    }
  }

  private compact(): void {
    this.order = this.order.slice(this.head).filter((e) => this.live(e));
    this.head = 0;
  }
}
