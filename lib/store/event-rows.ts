import type { EventPayload } from '../protocol/messages';

/**
 * The rows of the events table as the rest of the store sees them: the types, the check an
 * incoming event gets, and how an event is split into columns and `payload` and put back
 * together. No SQL runs here (EventLog does that).
 */

export type SyncState = 'pending' | 'synced' | 'failed';
export const SYNC_STATES: readonly string[] = ['pending', 'synced', 'failed'];

/**
 * What the store needs of an event: the protocol's event payload (the fields the Cloud
 * reads); everything else in it is kept too, in `payload`.
 */
export interface StorableEvent extends EventPayload {
  raw?: string;
  [field: string]: unknown;
}

/** 'synced' when this write marked it, 'already' when it was synced before, 'unknown' when no such event. */
export type AckResult = 'synced' | 'already' | 'unknown';

export interface PendingRow {
  seq: number;
  localEventId: string;
  deviceId: string;
  event: StorableEvent;
}

export interface StoredEventRow {
  seq: number;
  localEventId: string;
  deviceId: string;
  cloudSessionId: string | null;
  offlineBatchId: string | null;
  syncState: SyncState;
  cloudEventId: string | null;
  failReason: string | null;
  storedAt: number;
  syncedAt: number | null;
  event: StorableEvent;
}

export interface EventFilter {
  deviceId?: string;
  cloudSessionId?: string;
  offlineBatchId?: string;
  syncState?: SyncState;
  limit?: number;
}

export interface StoreCounts {
  pending: number;
  failed: number;
  synced: number | null;
  oldestPendingStoredAt: number | null;
}

/** Checks an incoming event; returns the problem, naming the field, or null. */
export function validateStorableEvent(e: unknown): string | null {
  if (!e || typeof e !== 'object') return 'the event payload is not an object';
  const ev = e as Record<string, unknown>;
  if (typeof ev.localEventId !== 'string' || ev.localEventId.length === 0 || ev.localEventId.length > 128) return 'localEventId must be a non-empty string';
  if (typeof ev.deviceId !== 'string' || ev.deviceId.length === 0) return 'deviceId must be a non-empty string';
  if (!Number.isInteger(ev.weightGrams)) return 'weightGrams must be a whole number of grams';
  if (typeof ev.receivedAt !== 'string') return 'receivedAt must be an ISO 8601 string';
  for (const f of ['cloudSessionId', 'offlineBatchId', 'globalDeviceId'] as const) {
    if (ev[f] !== undefined && ev[f] !== null && typeof ev[f] !== 'string') return `${f} must be a string or null`;
  }
  return null;
}

export interface Row {
  seq: number;
  local_event_id: string;
  device_id: string;
  global_device_id: string | null;
  cloud_session_id: string | null;
  offline_batch_id: string | null;
  offline_mode: number;
  plu_code: string | null;
  weight_grams: number;
  scale_timestamp: string | null;
  received_at: string;
  raw: string | null;
  sync_state: SyncState;
  cloud_event_id: string | null;
  fail_reason: string | null;
  stored_at: number;
  synced_at: number | null;
  payload: string;
}

export const toStored = (r: Row): StoredEventRow => ({
  seq: r.seq,
  localEventId: r.local_event_id,
  deviceId: r.device_id,
  cloudSessionId: r.cloud_session_id,
  offlineBatchId: r.offline_batch_id,
  syncState: r.sync_state,
  cloudEventId: r.cloud_event_id,
  failReason: r.fail_reason,
  storedAt: r.stored_at,
  syncedAt: r.synced_at,
  event: eventOf(r),
});

export type EventColumns = Pick<
  Row,
  | 'local_event_id'
  | 'device_id'
  | 'global_device_id'
  | 'cloud_session_id'
  | 'offline_batch_id'
  | 'plu_code'
  | 'weight_grams'
  | 'scale_timestamp'
  | 'received_at'
  | 'raw'
  | 'payload'
>;

/**
 * The event fields that have a column of their own. `payload` holds the rest of the event:
 * a field is left out of it when its column holds it exactly (a string in a text column,
 * whole grams in weight_grams) and put back from the column on reading. That is a third less
 * to write for every weighing (the raw line alone is ~170 bytes). Rows written before hold
 * every field in `payload` too and read the same way.
 */
const COLUMN_FIELDS: ReadonlyArray<readonly [field: string, column: keyof EventColumns]> = [
  ['localEventId', 'local_event_id'],
  ['deviceId', 'device_id'],
  ['globalDeviceId', 'global_device_id'],
  ['cloudSessionId', 'cloud_session_id'],
  ['offlineBatchId', 'offline_batch_id'],
  ['pluCode', 'plu_code'],
  ['weightGrams', 'weight_grams'],
  ['scaleTimestamp', 'scale_timestamp'],
  ['receivedAt', 'received_at'],
  ['raw', 'raw'],
];
const IN_COLUMN = new Set(COLUMN_FIELDS.map(([field]) => field));

/** The payload column of an event: its fields without those its columns hold exactly. */
export function payloadOf(e: StorableEvent): string {
  const rest: Record<string, unknown> = {};
  for (const k in e) {
    const v = e[k];
    const exact = k === 'weightGrams' ? Number.isSafeInteger(v) : typeof v === 'string';
    if (!(exact && IN_COLUMN.has(k))) rest[k] = v;
  }
  return JSON.stringify(rest);
}

/** The event as it was stored: its columns' fields with the rest from `payload`. */
export function eventOf(r: EventColumns): StorableEvent {
  const e: Record<string, unknown> = {};
  for (const [field, column] of COLUMN_FIELDS) if (r[column] !== null) e[field] = r[column];
  return Object.assign(e, JSON.parse(r.payload) as Record<string, unknown>) as StorableEvent;
}
