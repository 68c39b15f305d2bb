/**
 * A live view for people watching: at most `perSecond` values a second in all, evenly spaced
 * (one per 1000 / perSecond ms), and the latest value of EVERY key gets its turn. A key's new
 * value replaces the one still waiting (only the latest counts), keys wait in the order they
 * first offered, so a busy scale cannot crowd out a quiet one: with 20 a second and three
 * scales, each is shown at least every 150 ms it weighs. Nothing queues beyond one value per
 * key, and at most `maxKeys` keys (a flow sending ever new ids cannot grow it). 0 shows nothing.
 */
export interface LiveViewTimers {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemTimers: LiveViewTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class LiveView<T> {
  private readonly waiting = new Map<string, T>();
  /** The earliest time the next value may go. */
  private next = -Infinity;
  private timer: unknown = null;
  private closed = false;

  constructor(
    readonly perSecond: number,
    private readonly emit: (key: string, value: T) => void,
    private readonly o: { maxKeys?: number; timers?: LiveViewTimers } = {},
  ) {}

  private get timers(): LiveViewTimers {
    return this.o.timers ?? systemTimers;
  }

  /** The latest value of `key`: shown now if the view has room, else when its turn comes. */
  offer(key: string, value: T): void {
    if (!(this.perSecond > 0) || this.closed) return;
    if (!this.waiting.has(key) && this.waiting.size >= (this.o.maxKeys ?? 1000)) return;
    this.waiting.set(key, value); // an existing key keeps its place in the line
    if (this.timer === null) this.drain();
  }

  private drain(): void {
    this.timer = null;
    const now = this.timers.now();
    if (now >= this.next) {
      const first = this.waiting.entries().next();
      if (first.done) return;
      const [key, value] = first.value;
      this.waiting.delete(key);
      this.next = now + 1000 / this.perSecond;
      try {
        this.emit(key, value);
      } catch {
        /* a value the view cannot show (e.g. one that cannot be copied) is skipped: this runs on a timer */
      }
    }
    if (this.waiting.size && !this.closed) this.timer = this.timers.setTimeout(() => this.drain(), Math.max(0, this.next - now));
  }

  /** Keys waiting for their turn. */
  get size(): number {
    return this.waiting.size;
  }

  /** Drops what waits and the timer (the node closes). */
  close(): void {
    this.closed = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.waiting.clear();
  }
}
