import { wallIso, type Clock } from '../util/clock';
import type { DeviceHealth, DeviceRegistry } from './device-registry';
import type { KnownScales } from './known-scales';
import type { IdConflict } from './id-conflicts';

/**
 * The scales as the admin routes and the CarniTrack tab see them: the connected ones from the
 * registry's live records, the others as the known scales last saw them, merged into one list
 * with wall-clock times. Read only: a view changes nothing in the gateway.
 */

/**
 * A scale as admin views show it, connected or not (every known scale): times as wall-clock ISO
 * strings. A disconnected scale has no connection and no counts, and keeps its last figures.
 */
export interface DeviceView {
  connectionId: string | null;
  deviceId: string | null;
  /** The address of its connection, or of its last one. */
  sourceIp: string;
  health: DeviceHealth;
  /** Since when `health` holds. */
  since: string;
  /** When anything was last heard from it. */
  lastSeenAt: string;
  connectedAt: string;
  disconnectedAt: string | null;
  /** Why its last connection closed (`gateway-stopped` when the gateway stopped or restarted). */
  disconnectReason: string | null;
  /** Disconnected longer than the node's "Missing after": a problem. */
  missing: boolean;
  lastHeartbeatAt: string | null;
  lastWeighingAt: string | null;
  lastWeightGrams: number | null;
  /** Of its current connection; null while disconnected. */
  heartbeatCount: number | null;
  eventCount: number | null;
  duplicateCount: number | null;
  /** The addresses registering as this scale's id while two scales fight over it, else null. */
  idConflict: string[] | null;
  /** Seconds the oldest weighing of this scale has waited for the store's OK; null when none waits. */
  waitingForOkS: number | null;
}

/** A scale that is disconnected longer than the node's "Missing after". */
export interface MissingScale {
  deviceId: string;
  address: string;
  /** How long it has been disconnected while this gateway ran (ms). */
  forMs: number;
}

/**
 * Known scales disconnected at least `afterMs` (0: never missing), counted from `startedAt` (the
 * gateway's start, monotonic) at the earliest.
 */
export function missingScales(known: KnownScales, afterMs: number, startedAt: number, now: number): MissingScale[] {
  if (!(afterMs > 0)) return [];
  const out: MissingScale[] = [];
  for (const k of known.list()) {
    if (k.connected || k.disconnectedAt === null) continue;
    const forMs = now - Math.max(k.disconnectedAt, startedAt);
    if (forMs >= afterMs) out.push({ deviceId: k.deviceId, address: k.address, forMs });
  }
  return out;
}

export interface ViewSources {
  registry: DeviceRegistry;
  known: KnownScales;
  conflicts: IdConflict[];
  missing: MissingScale[];
  /** Per connection, since when its oldest weighing waits for OK (monotonic). */
  waitingSince: ReadonlyMap<string, number>;
  clock: Clock;
}

/** Every known scale, connected or not, sorted by id. */
export function deviceViews(s: ViewSources): DeviceView[] {
  const { clock } = s;
  const conflicts = new Map(s.conflicts.map((c) => [c.deviceId, c.addresses]));
  const at = (t: number | null): string | null => (t === null ? null : wallIso(clock, t));
  const now = clock.mono();
  const missing = new Set(s.missing.map((m) => m.deviceId));
  const views: DeviceView[] = s.registry.devices().map((d) => {
    const since = s.waitingSince.get(d.connectionId);
    return {
      connectionId: d.connectionId,
      deviceId: d.deviceId,
      sourceIp: d.sourceIp,
      health: d.health,
      since: wallIso(clock, d.healthSince),
      lastSeenAt: wallIso(clock, d.lastHeardAt),
      connectedAt: wallIso(clock, d.connectedAt),
      disconnectedAt: null,
      disconnectReason: null,
      missing: false,
      lastHeartbeatAt: at(d.lastHeartbeatAt),
      lastWeighingAt: at(d.lastWeighingAt),
      lastWeightGrams: d.lastWeightGrams,
      heartbeatCount: d.heartbeatCount,
      eventCount: d.eventCount,
      duplicateCount: d.duplicateCount,
      waitingForOkS: since === undefined ? null : Math.round((now - since) / 100) / 10,
      idConflict: (d.deviceId !== null && conflicts.get(d.deviceId)) || null,
    };
  });
  for (const k of s.known.list()) {
    if (s.registry.connectionOf(k.deviceId)) continue;
    views.push({
      connectionId: null,
      deviceId: k.deviceId,
      sourceIp: k.address,
      health: 'disconnected',
      since: wallIso(clock, k.disconnectedAt ?? k.lastSeenAt),
      lastSeenAt: wallIso(clock, k.lastSeenAt),
      connectedAt: wallIso(clock, k.connectedAt),
      disconnectedAt: at(k.disconnectedAt),
      disconnectReason: k.disconnectReason,
      missing: missing.has(k.deviceId),
      lastHeartbeatAt: null,
      lastWeighingAt: at(k.lastWeighingAt),
      lastWeightGrams: k.lastWeightGrams,
      heartbeatCount: null,
      eventCount: null,
      duplicateCount: null,
      waitingForOkS: null,
      idConflict: conflicts.get(k.deviceId) ?? null,
    });
  }
  return views.sort((a, b) => String(a.deviceId).localeCompare(String(b.deviceId)));
}
