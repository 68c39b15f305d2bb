/**
 * Which scale is on which connection, and how healthy each one is. Pure: time comes in as
 * arguments, so health transitions are tested with a hand-driven clock.
 *
 * Health (shared/DP401.md section 2): `online` after registration or a heartbeat, `idle`
 * after `idleAfterMs` with no weighing, `stale` after `staleAfterMs` with nothing heard,
 * and after `timeoutAfterMs` the connection is to be closed (`disconnected`). Any packet
 * counts as a sign of life, so a busy scale is never closed for a late heartbeat.
 */

export type DeviceHealth = 'online' | 'idle' | 'stale' | 'disconnected';

export interface HealthThresholds {
  staleAfterMs: number;
  timeoutAfterMs: number;
  idleAfterMs: number;
}

export interface DeviceRecord {
  connectionId: string;
  deviceId: string | null;
  sourceIp: string;
  connectedAt: number;
  registeredAt: number | null;
  lastHeardAt: number;
  lastHeartbeatAt: number | null;
  lastWeighingAt: number | null;
  heartbeatCount: number;
  eventCount: number;
  duplicateCount: number;
  lastWeightGrams: number | null;
  health: DeviceHealth;
  /** When `health` last changed (or the connection was made). */
  healthSince: number;
}

export interface HealthChange {
  connectionId: string;
  deviceId: string | null;
  from: DeviceHealth;
  to: DeviceHealth;
}

export interface RegisterResult {
  /** The connection the same id was on before; it must be closed with reason `replaced`. */
  replaced?: DeviceRecord;
  /** The replaced connection was alive and at another address: two scales share one id. */
  conflict: boolean;
}

export class DeviceRegistry {
  private readonly byConnection = new Map<string, DeviceRecord>();
  private readonly byDevice = new Map<string, string>();

  constructor(private readonly thresholds: HealthThresholds) {}

  connect(connectionId: string, sourceIp: string, now: number): DeviceRecord {
    const rec: DeviceRecord = {
      connectionId,
      deviceId: null,
      sourceIp,
      connectedAt: now,
      registeredAt: null,
      lastHeardAt: now,
      lastHeartbeatAt: null,
      lastWeighingAt: null,
      heartbeatCount: 0,
      eventCount: 0,
      duplicateCount: 0,
      lastWeightGrams: null,
      health: 'online',
      healthSince: now,
    };
    this.byConnection.set(connectionId, rec);
    return rec;
  }

  get(connectionId: string): DeviceRecord | undefined {
    return this.byConnection.get(connectionId);
  }

  connectionOf(deviceId: string): DeviceRecord | undefined {
    const c = this.byDevice.get(deviceId);
    return c === undefined ? undefined : this.byConnection.get(c);
  }

  /** Registered (or address-mapped) devices, one record each. */
  devices(): DeviceRecord[] {
    return [...this.byConnection.values()].filter((r) => r.deviceId !== null);
  }

  get connectionCount(): number {
    return this.byConnection.size;
  }

  /** Binds `deviceId` to a connection; a newer socket always takes the id over. */
  register(connectionId: string, deviceId: string, now: number): RegisterResult {
    const rec = this.byConnection.get(connectionId);
    if (!rec) throw new Error(`unknown connection ${connectionId}`);
    let result: RegisterResult = { conflict: false };
    const previousConn = this.byDevice.get(deviceId);
    if (previousConn !== undefined && previousConn !== connectionId) {
      const old = this.byConnection.get(previousConn);
      if (old) {
        const alive = now - old.lastHeardAt < this.thresholds.staleAfterMs && old.lastHeartbeatAt !== null;
        result = { replaced: old, conflict: alive && old.sourceIp !== rec.sourceIp };
        old.deviceId = null; // the id now belongs to the new socket
      }
    }
    if (rec.deviceId !== null && rec.deviceId !== deviceId) this.byDevice.delete(rec.deviceId);
    rec.deviceId = deviceId;
    rec.registeredAt ??= now;
    this.byDevice.set(deviceId, connectionId);
    this.heard(rec, now);
    return result;
  }

  heartbeat(connectionId: string, now: number): DeviceRecord | undefined {
    const rec = this.byConnection.get(connectionId);
    if (!rec) return undefined;
    rec.heartbeatCount++;
    rec.lastHeartbeatAt = now;
    this.heard(rec, now);
    return rec;
  }

  weighing(connectionId: string, weightGrams: number, now: number): DeviceRecord | undefined {
    const rec = this.byConnection.get(connectionId);
    if (!rec) return undefined;
    rec.eventCount++;
    rec.lastWeighingAt = now;
    rec.lastWeightGrams = weightGrams;
    this.heard(rec, now);
    return rec;
  }

  /** Any other packet: proof the link is alive. */
  touch(connectionId: string, now: number): void {
    const rec = this.byConnection.get(connectionId);
    if (rec) this.heard(rec, now);
  }

  disconnect(connectionId: string): DeviceRecord | undefined {
    const rec = this.byConnection.get(connectionId);
    if (!rec) return undefined;
    this.byConnection.delete(connectionId);
    if (rec.deviceId !== null && this.byDevice.get(rec.deviceId) === connectionId) this.byDevice.delete(rec.deviceId);
    rec.health = 'disconnected';
    return rec;
  }

  /** What a record's health is at `now`. */
  healthAt(rec: DeviceRecord, now: number): DeviceHealth {
    const silent = now - rec.lastHeardAt;
    if (silent >= this.thresholds.timeoutAfterMs) return 'disconnected';
    if (silent >= this.thresholds.staleAfterMs) return 'stale';
    const lastWork = rec.lastWeighingAt ?? rec.registeredAt ?? rec.connectedAt;
    if (now - lastWork >= this.thresholds.idleAfterMs) return 'idle';
    return 'online';
  }

  /**
   * Applies the clock: returns every health change since the last call. A change to
   * `disconnected` means the caller must close that socket.
   */
  evaluate(now: number): HealthChange[] {
    const changes: HealthChange[] = [];
    for (const rec of this.byConnection.values()) {
      const to = this.healthAt(rec, now);
      if (to !== rec.health) {
        changes.push({ connectionId: rec.connectionId, deviceId: rec.deviceId, from: rec.health, to });
        rec.health = to;
        rec.healthSince = now;
      }
    }
    return changes;
  }

  private heard(rec: DeviceRecord, now: number): void {
    rec.lastHeardAt = now;
  }
}
