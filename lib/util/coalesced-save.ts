import { writeFileAtomicAsync } from './atomic-write';

/**
 * Saves a small file some time after it changed, however often it changes: the first change
 * starts a `delayMs` wait and every change during it rides along, so a burst (ten scales
 * reconnecting, one scale flapping) costs one write per wait, never one per change, and a
 * steady stream of changes cannot postpone the write for ever (unlike a debounce). Writes are
 * atomic (old or new content, never part) and off the event loop; at most one runs at a time.
 * `close()` writes what is pending now and waits for it.
 */
export class CoalescedSave {
  private timer: NodeJS.Timeout | null = null;
  private dirty = false;
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(
    readonly file: string,
    private readonly delayMs: number,
    /** The content to write, read when the write starts (so it is the latest). */
    private readonly content: () => string,
    /** A write failed (disk full, read-only); the next change tries again. */
    private readonly onError: (err: Error) => void,
  ) {}

  /** Something changed: save within `delayMs`. */
  schedule(): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.timer || this.running) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, this.delayMs);
  }

  /** Writes now what is pending, and waits for that and any write already running. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.running) await this.running;
    if (this.dirty) await this.run();
  }

  private run(): Promise<void> {
    this.dirty = false;
    const write = writeFileAtomicAsync(this.file, Buffer.from(this.content(), 'utf8'))
      .catch((err: unknown) => this.onError(err as Error))
      .finally(() => {
        this.running = null;
        // Changes made while it was written: the next wait starts now.
        if (this.dirty && !this.closed) this.schedule();
      });
    this.running = write;
    return write;
  }
}
