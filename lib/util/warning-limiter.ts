/**
 * One log line per cause per window: the first warning of a cause goes out at once, the
 * rest within the window are counted, and `flush()` reports the count with the latest
 * message once the window has passed. Bounded by the number of causes, which callers keep
 * small (a code, or a code and a configured device id).
 */
export interface LimitedWarning {
  cause: string;
  message: string;
  /** How many warnings of this cause this line stands for (1 when nothing was held back). */
  count: number;
}

interface Cause {
  windowStart: number;
  held: number;
  lastMessage: string;
}

export class WarningLimiter {
  private readonly causes = new Map<string, Cause>();

  constructor(
    private readonly windowMs = 60_000,
    private readonly maxCauses = 256,
  ) {}

  /** The line to log now for this warning, or null when it is held back and counted. */
  offer(cause: string, message: string, now: number): LimitedWarning | null {
    const c = this.causes.get(cause);
    if (c && now - c.windowStart < this.windowMs) {
      c.held++;
      c.lastMessage = message;
      return null;
    }
    if (!c && this.causes.size >= this.maxCauses) {
      const oldest = this.causes.keys().next().value;
      if (oldest !== undefined) this.causes.delete(oldest);
    }
    const held = c?.held ?? 0;
    this.causes.delete(cause);
    this.causes.set(cause, { windowStart: now, held: 0, lastMessage: message });
    return { cause, message: held ? withCount(message, held + 1, this.windowMs) : message, count: held + 1 };
  }

  /** Lines for causes whose window is over with warnings held back; forgets quiet causes. */
  flush(now: number): LimitedWarning[] {
    const out: LimitedWarning[] = [];
    for (const [cause, c] of this.causes) {
      if (now - c.windowStart < this.windowMs) continue;
      if (c.held) {
        out.push({ cause, message: withCount(c.lastMessage, c.held, this.windowMs), count: c.held });
        this.causes.set(cause, { windowStart: now, held: 0, lastMessage: c.lastMessage });
      } else this.causes.delete(cause);
    }
    return out;
  }
}

function withCount(message: string, count: number, windowMs: number): string {
  return `${message} (${count} times in the last ${Math.round(windowMs / 1000)} s)`;
}
