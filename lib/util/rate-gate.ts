/**
 * At most `perSecond` a second, evenly spaced (one per 1000 / perSecond ms); the others are
 * turned away, never queued. 0 lets nothing through. `now` is a monotonic time in ms.
 */
export class RateGate {
  private next = -Infinity;

  constructor(readonly perSecond: number) {}

  pass(now: number): boolean {
    if (!(this.perSecond > 0) || now < this.next) return false;
    this.next = now + 1000 / this.perSecond;
    return true;
  }
}
