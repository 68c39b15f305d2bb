/**
 * The DP-401 often sends one weighing twice within 1-2 s (weigh, then label print). A line
 * with the same device, PLU, net and tare within the window is a duplicate of the first.
 *
 * A weighing may only stand as the original while it is stored or its store is still
 * pending: the gateway `forget`s one whose store failed or whose socket closed before the
 * store answered, so a resend is taken as a new weighing, never answered `OK` unstored.
 * Time is the monotonic clock: a wall-clock step cannot make two weighings "simultaneous".
 */
export interface DuplicateHit {
  originalEventId: string;
  firstSeenAt: number;
}

/** Bounded: entries older than the window go, and never more than `maxEntries` are kept. */
export class DuplicateFilter {
  private seen = new Map<string, DuplicateHit>();
  private keyOf = new Map<string, string>();

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
    if (hit && now >= hit.firstSeenAt && now - hit.firstSeenAt <= this.windowMs) return hit;
    if (hit) this.remove(key);
    if (this.seen.size >= this.maxEntries) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.remove(oldest);
    }
    this.seen.set(key, { originalEventId: eventId, firstSeenAt: now });
    this.keyOf.set(eventId, key);
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

  private remove(key: string): void {
    const hit = this.seen.get(key);
    if (hit) this.keyOf.delete(hit.originalEventId);
    this.seen.delete(key);
  }

  private prune(now: number): void {
    // Insertion order is time order, so the stale entries are at the front.
    for (const [k, v] of this.seen) {
      if (now - v.firstSeenAt <= this.windowMs) break;
      this.remove(k);
    }
  }
}
