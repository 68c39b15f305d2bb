/**
 * Deletes synced events past retention in short chunks, each its own transaction, one per
 * turn of the event loop, so scales keep being answered while a large day is cleared. Runs a
 * minute after start, then hourly; at most `maxChunks` chunks per run.
 */
export interface RetentionOptions {
  /** Deletes one chunk; returns how many rows went (0 when nothing is left). */
  chunk(): number;
  onError(err: Error): void;
  firstAfterMs?: number;
  everyMs?: number;
  maxChunks?: number;
}

export class RetentionSchedule {
  private readonly timers: NodeJS.Timeout[] = [];
  private running: NodeJS.Immediate | null = null;
  private stopped = false;

  constructor(private readonly o: RetentionOptions) {
    this.timers.push(
      setTimeout(() => this.run(), o.firstAfterMs ?? 60_000),
      setInterval(() => this.run(), o.everyMs ?? 3_600_000),
    );
  }

  /** One run now (a run already going is left to finish). */
  run(): void {
    if (this.running || this.stopped) return;
    let chunks = 0;
    const step = (): void => {
      this.running = null;
      if (this.stopped) return;
      try {
        if (this.o.chunk() > 0 && ++chunks < (this.o.maxChunks ?? 200)) this.running = setImmediate(step);
      } catch (err) {
        this.o.onError(err as Error);
      }
    };
    this.running = setImmediate(step);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    if (this.running) clearImmediate(this.running);
    this.running = null;
  }
}
