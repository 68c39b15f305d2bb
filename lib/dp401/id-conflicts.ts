/**
 * Two scales configured with one id (two sockets registering as `SCALE-05` from two addresses)
 * take the id from each other about once a heartbeat for as long as both are on. Each such
 * take-over starts or prolongs a conflict; a conflict lasts until `holdMs` pass without one.
 * While it lasts it is a problem naming the id and every address seen, and the take-overs are
 * not reported to the flow (the Cloud would get a connect/disconnect pair each time). Times are
 * monotonic milliseconds. At most `max` ids are tracked (a flood of ids cannot grow it).
 */
export interface IdConflict {
  deviceId: string;
  /** The addresses that registered as this id during the conflict, oldest first (at most 8). */
  addresses: string[];
  since: number;
  lastAt: number;
  takeovers: number;
}

export class IdConflicts {
  private readonly byId = new Map<string, IdConflict>();

  constructor(
    readonly holdMs = 120_000,
    private readonly max = 256,
  ) {}

  /** `deviceId` was taken from `from` by `to` while `from` was alive. True when a conflict starts. */
  takeover(deviceId: string, from: string, to: string, now: number): boolean {
    const c = this.active(deviceId, now);
    if (c) {
      for (const a of [from, to]) if (!c.addresses.includes(a) && c.addresses.length < 8) c.addresses.push(a);
      c.lastAt = now;
      c.takeovers++;
      return false;
    }
    if (this.byId.size >= this.max) this.prune(now);
    if (this.byId.size >= this.max) return false;
    this.byId.set(deviceId, { deviceId, addresses: [from, to], since: now, lastAt: now, takeovers: 1 });
    return true;
  }

  /** The conflict over `deviceId` if it still lasts. */
  active(deviceId: string, now: number): IdConflict | null {
    const c = this.byId.get(deviceId);
    if (!c) return null;
    if (now - c.lastAt > this.holdMs) {
      this.byId.delete(deviceId);
      return null;
    }
    return c;
  }

  /** Every conflict that still lasts. */
  list(now: number): IdConflict[] {
    this.prune(now);
    return [...this.byId.values()];
  }

  private prune(now: number): void {
    for (const id of [...this.byId.keys()]) this.active(id, now);
  }
}
