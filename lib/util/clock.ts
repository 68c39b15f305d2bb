/**
 * Two clocks, kept apart on purpose. `wall` is the calendar time and only ever becomes a
 * timestamp; it jumps when NTP or a person sets the gateway's clock. `mono` never jumps and
 * never goes back, so every interval (duplicate window, health, ack wait, backoff) is
 * measured on it: a clock step must not drop, merge or disconnect anything.
 */
export interface Clock {
  /** Epoch milliseconds, for timestamps only. */
  wall(): number;
  /** Milliseconds since an arbitrary start, for intervals only. */
  mono(): number;
}

export const systemClock: Clock = {
  wall: () => Date.now(),
  mono: () => performance.now(),
};

/** The wall-clock time of an instant recorded on the monotonic clock, as ISO 8601. */
export function wallIso(clock: Clock, monoAt: number): string {
  return new Date(clock.wall() - (clock.mono() - monoAt)).toISOString();
}
