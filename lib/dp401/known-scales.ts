import * as path from 'node:path';
import type { Clock } from '../util/clock';
import type { DeviceRecord } from './device-registry';

/**
 * Every scale this gateway has seen, by id, whether it is connected now or not: a scale that
 * drops off (WiFi lost, switched off, 90 s of silence) must leave a trace the plant can see,
 * not vanish with its socket. The DeviceRegistry knows connections; this knows scales.
 *
 * While a scale is connected its record only says so (the registry's live record has the
 * figures); at disconnect the last figures are copied here. So heartbeats and weighings change
 * nothing here and cost no write: the owner saves on connect, disconnect, forget and stop only.
 *
 * Bounded: at most `max` ids; over it, the scale gone longest is dropped first (a connected one
 * never is: those are bounded by the gateway's max connections). Times are monotonic in memory
 * and wall-clock ISO strings in the saved text, converted through the clock on save and load.
 */

export type GoneReason = string;

/**
 * Where a dp401-in node keeps its known scales across restarts and redeploys: a small JSON file
 * per node in Node-RED's user directory (it has no database of its own, and the file is written
 * only when a scale connects, disconnects or is forgotten). None without a user directory.
 */
export function knownScalesFile(userDir: string | undefined, nodeId: string): string | null {
  return userDir ? path.join(userDir, 'carnitrack', `known-scales-${nodeId.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`) : null;
}

export interface KnownScale {
  deviceId: string;
  /** The address of its last connection. */
  address: string;
  connected: boolean;
  /** Monotonic ms. */
  firstSeenAt: number;
  connectedAt: number;
  disconnectedAt: number | null;
  /** Anything last heard from it (as of its disconnect, while connected see the registry). */
  lastSeenAt: number;
  lastWeighingAt: number | null;
  lastWeightGrams: number | null;
  /** Why its last connection closed (a DisconnectReason, or `gateway-stopped`). */
  disconnectReason: GoneReason | null;
}

/** What a connection's live record gives a known scale. */
type Live = Pick<DeviceRecord, 'sourceIp' | 'connectedAt' | 'lastHeardAt' | 'lastWeighingAt' | 'lastWeightGrams'>;

export const MAX_KNOWN_SCALES = 1000;
const FORMAT = 1;

interface SavedScale {
  deviceId: string;
  address: string;
  state: 'connected' | 'disconnected';
  firstSeenAt: string;
  connectedAt: string;
  disconnectedAt: string | null;
  lastSeenAt: string;
  lastWeighingAt: string | null;
  lastWeightGrams: number | null;
  disconnectReason: string | null;
}

export class KnownScales {
  private readonly byId = new Map<string, KnownScale>();

  constructor(readonly max = MAX_KNOWN_SCALES) {}

  get size(): number {
    return this.byId.size;
  }

  get(deviceId: string): KnownScale | undefined {
    return this.byId.get(deviceId);
  }

  list(): KnownScale[] {
    return [...this.byId.values()];
  }

  /** `deviceId` is on a connection now (registered, or took its id over). */
  connected(deviceId: string, live: Live, now: number): KnownScale {
    let k = this.byId.get(deviceId);
    if (!k) {
      k = {
        deviceId,
        address: live.sourceIp,
        connected: true,
        firstSeenAt: now,
        connectedAt: live.connectedAt,
        disconnectedAt: null,
        lastSeenAt: now,
        lastWeighingAt: null,
        lastWeightGrams: null,
        disconnectReason: null,
      };
      this.byId.set(deviceId, k);
      this.bound();
    }
    k.connected = true;
    k.address = live.sourceIp;
    k.connectedAt = live.connectedAt;
    k.disconnectedAt = null;
    k.disconnectReason = null;
    k.lastSeenAt = Math.max(k.lastSeenAt, live.lastHeardAt);
    return k;
  }

  /** Its connection closed and no other connection holds its id: keep what it last showed. */
  disconnected(deviceId: string, live: Live, reason: GoneReason, now: number): KnownScale | undefined {
    const k = this.byId.get(deviceId);
    if (!k) return undefined;
    k.connected = false;
    k.address = live.sourceIp;
    k.disconnectedAt = now;
    k.disconnectReason = reason;
    k.lastSeenAt = Math.max(k.lastSeenAt, live.lastHeardAt);
    if (live.lastWeighingAt !== null) {
      k.lastWeighingAt = live.lastWeighingAt;
      k.lastWeightGrams = live.lastWeightGrams;
    }
    return k;
  }

  /** Drops a scale that is not connected; false when it is connected or not known. */
  forget(deviceId: string): boolean {
    const k = this.byId.get(deviceId);
    if (!k || k.connected) return false;
    return this.byId.delete(deviceId);
  }

  private bound(): void {
    while (this.byId.size > this.max) {
      let oldest: KnownScale | null = null;
      for (const k of this.byId.values()) if (!k.connected && (oldest === null || k.lastSeenAt < oldest.lastSeenAt)) oldest = k;
      if (!oldest) return;
      this.byId.delete(oldest.deviceId);
    }
  }

  /**
   * The text to save. A connected scale is saved with its live figures (`liveOf`), so that after
   * a crash (no clean stop) it comes back as disconnected since it was last seen.
   */
  serialize(clock: Clock, liveOf: (deviceId: string) => Live | undefined): string {
    const wall = (t: number): string => new Date(clock.wall() - (clock.mono() - t)).toISOString();
    const maybe = (t: number | null): string | null => (t === null ? null : wall(t));
    const scales: SavedScale[] = this.list().map((k) => {
      const live = k.connected ? liveOf(k.deviceId) : undefined;
      const lastWeighingAt = live?.lastWeighingAt ?? k.lastWeighingAt;
      return {
        deviceId: k.deviceId,
        address: k.address,
        state: k.connected ? 'connected' : 'disconnected',
        firstSeenAt: wall(k.firstSeenAt),
        connectedAt: wall(k.connectedAt),
        disconnectedAt: maybe(k.disconnectedAt),
        lastSeenAt: wall(Math.max(k.lastSeenAt, live?.lastHeardAt ?? -Infinity)),
        lastWeighingAt: maybe(lastWeighingAt),
        lastWeightGrams: live?.lastWeighingAt != null ? live.lastWeightGrams : k.lastWeightGrams,
        disconnectReason: k.disconnectReason,
      };
    });
    return JSON.stringify({ format: FORMAT, savedAt: new Date(clock.wall()).toISOString(), scales }, null, 1) + '\n';
  }

  /**
   * Reads a saved text into this (empty) set. Every scale comes back disconnected: one saved as
   * connected was on when the gateway stopped without a clean close, gone since it was last seen.
   * Returns how many records were unreadable (skipped); throws when the text is not ours at all.
   */
  load(text: string, clock: Clock): number {
    const doc = JSON.parse(text) as { format?: unknown; scales?: unknown };
    if (doc === null || typeof doc !== 'object' || doc.format !== FORMAT || !Array.isArray(doc.scales)) {
      throw new Error('not a known-scales file of format 1');
    }
    const now = clock.mono();
    // Wall time of the file to monotonic time now; a time "in the future" (the clock was set back) is now.
    const mono = (iso: unknown): number | null => {
      if (typeof iso !== 'string') return null;
      const w = Date.parse(iso);
      return Number.isFinite(w) ? Math.min(now, now - (clock.wall() - w)) : null;
    };
    let bad = 0;
    for (const s of doc.scales as Array<Partial<Record<keyof SavedScale, unknown>>>) {
      const lastSeenAt = mono(s?.lastSeenAt);
      if (!s || typeof s.deviceId !== 'string' || !s.deviceId || typeof s.address !== 'string' || lastSeenAt === null) {
        bad++;
        continue;
      }
      const weight = typeof s.lastWeightGrams === 'number' && Number.isFinite(s.lastWeightGrams) ? s.lastWeightGrams : null;
      const wasOn = s.state === 'connected';
      this.byId.set(s.deviceId, {
        deviceId: s.deviceId,
        address: s.address,
        connected: false,
        firstSeenAt: mono(s.firstSeenAt) ?? lastSeenAt,
        connectedAt: mono(s.connectedAt) ?? lastSeenAt,
        disconnectedAt: wasOn ? lastSeenAt : (mono(s.disconnectedAt) ?? lastSeenAt),
        lastSeenAt,
        lastWeighingAt: weight === null ? null : mono(s.lastWeighingAt),
        lastWeightGrams: weight,
        disconnectReason: wasOn ? 'gateway-stopped' : typeof s.disconnectReason === 'string' ? s.disconnectReason : null,
      });
    }
    this.bound();
    return bad;
  }
}
