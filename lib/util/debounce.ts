/**
 * Runs `fn` once `delayMs` after the last `schedule()`, with the last argument given: a burst
 * of catalogue changes becomes one file write. `flush()` runs a pending call now (at close,
 * so the last change is not lost); `pending` says whether one waits.
 */
export class Debounced<T> {
  private timer: NodeJS.Timeout | null = null;
  private arg: { value: T } | null = null;

  constructor(
    private readonly delayMs: number,
    private readonly fn: (arg: T) => void,
  ) {}

  get pending(): boolean {
    return this.timer !== null;
  }

  schedule(arg: T): void {
    this.arg = { value: arg };
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), this.delayMs);
  }

  /** Runs the pending call now, with `replace` instead of its argument when given. */
  flush(replace?: { value: T }): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const a = this.arg;
    this.arg = null;
    if (a) this.fn((replace ?? a).value);
  }
}
