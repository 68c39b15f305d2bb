/**
 * Reconnect delays: exponential from `minMs`, capped at `maxMs`, with full jitter between
 * `minMs` and the cap, so a plant full of gateways does not reconnect in step after an
 * outage. Reset after a connection has been stable.
 */
export class Backoff {
  attempt = 0;

  constructor(
    readonly minMs: number,
    readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {
    if (!(minMs > 0 && maxMs >= minMs)) throw new RangeError('backoff needs 0 < min <= max');
  }

  /** The ceiling for the next attempt. */
  get cap(): number {
    return Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
  }

  next(): number {
    const cap = this.cap;
    this.attempt++;
    return Math.round(this.minMs + this.random() * (cap - this.minMs));
  }

  reset(): void {
    this.attempt = 0;
  }
}
