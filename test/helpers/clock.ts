import type { Clock } from '../../lib/util/clock';

/**
 * A hand-driven clock: `wall` and `mono` move only when told. `stepWall` is what NTP or a
 * person does to the gateway's clock (the monotonic clock does not move); `advance` is time
 * passing (both move).
 */
export class ManualClock implements Clock {
  private wallMs: number;
  private monoMs = 1_000_000;

  constructor(wallStart = Date.UTC(2026, 0, 30, 7, 30, 0)) {
    this.wallMs = wallStart;
  }

  wall(): number {
    return this.wallMs;
  }

  mono(): number {
    return this.monoMs;
  }

  advance(ms: number): void {
    this.wallMs += ms;
    this.monoMs += ms;
  }

  stepWall(ms: number): void {
    this.wallMs += ms;
  }
}
