import type { NodeStatus } from 'node-red';

/**
 * Node status at most every `intervalMs`: a scale sending many lines a second must not
 * turn into as many editor updates. The latest status always wins; `stop()` clears the timer.
 */
export class ThrottledStatus {
  private timer: NodeJS.Timeout | null = null;
  private pending: (() => NodeStatus) | null = null;
  private lastText: string | null = null;
  /** Monotonic: a wall-clock step must not freeze the status. */
  private lastAt = -Infinity;
  private stopped = false;

  constructor(
    private readonly apply: (s: NodeStatus) => void,
    private readonly intervalMs: number,
    /**
     * A status computed on this class's timer may read the database: what it throws goes here
     * (a disk fault reaches the node's supervisor), never out of the timer, where it would take
     * Node-RED down. Without it the error is dropped with the status.
     */
    private readonly onError?: (err: unknown) => void,
  ) {}

  /** A status, or a function computing it when it is due. */
  set(status: NodeStatus | (() => NodeStatus)): void {
    if (this.stopped) return;
    this.pending = typeof status === 'function' ? status : () => status;
    if (this.timer) return;
    const wait = this.lastAt + this.intervalMs - performance.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
  }

  private flush(): void {
    this.timer = null;
    const compute = this.pending;
    this.pending = null;
    if (!compute || this.stopped) return;
    let s: NodeStatus;
    try {
      s = compute();
    } catch (err) {
      this.onError?.(err);
      return;
    }
    this.lastAt = performance.now();
    const key = JSON.stringify(s);
    if (key === this.lastText) return;
    this.lastText = key;
    this.apply(s);
  }
}
