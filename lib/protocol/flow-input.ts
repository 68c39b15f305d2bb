import type {
  EventAckPayload,
  EventRejectedPayload,
  OfflineBatchEndPayload,
  OfflineBatchStartPayload,
  SessionChangePayload,
  SessionStartedPayload,
} from './messages';

/**
 * The protocol's payloads as they arrive from a flow: a wire carries whatever a user or another
 * node put in msg.payload, so each message is read here once into its typed payload (or
 * refused, naming the field), and everything after works on the type. Flows are more lenient
 * than the Cloud link (whose frames the codec checks against the schemas): a missing ack status
 * means accepted, a rejection without a reason is kept with "no reason given".
 */

/** A payload as a plain object, or an empty one. */
export function asRecord(p: unknown): Record<string, unknown> {
  return p && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
}

const text = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

export function eventAckFrom(payload: unknown): EventAckPayload {
  const p = asRecord(payload);
  if (typeof p.localEventId !== 'string') throw new Error('event_ack: localEventId is missing');
  const status = p.status ?? 'accepted';
  if (status !== 'accepted' && status !== 'duplicate') throw new Error(`event_ack: status "${String(status)}" is neither "accepted" nor "duplicate"`);
  return { localEventId: p.localEventId, cloudEventId: typeof p.cloudEventId === 'string' ? p.cloudEventId : null, status };
}

export function eventRejectedFrom(payload: unknown): EventRejectedPayload {
  const p = asRecord(payload);
  if (typeof p.localEventId !== 'string') throw new Error('event_rejected: localEventId is missing');
  return { localEventId: p.localEventId, reason: text(p.reason) ?? 'no reason given' };
}

/**
 * `offline_batch_start` / `offline_batch_end` from session-cache (or a flow): the batch id is
 * what the store needs; the rest goes to the Cloud as it came (the store adds the end's totals).
 */
export type BatchAnnouncement = Partial<OfflineBatchStartPayload & Pick<OfflineBatchEndPayload, 'endedAt'>> & { batchId: string; [field: string]: unknown };

export function batchAnnouncementFrom(topic: 'offline_batch_start' | 'offline_batch_end', payload: unknown): BatchAnnouncement {
  const p = asRecord(payload);
  const batchId = String(p.batchId ?? '');
  if (!batchId) throw new Error(`${topic}: batchId is missing`);
  return { ...p, batchId };
}

/** A session message read field by field: `sessionId` is the older name of `cloudSessionId`. */
export type SessionMessage = Omit<SessionStartedPayload & SessionChangePayload, 'deviceId' | 'sessionId'> & {
  deviceId: string | null;
  cloudSessionId: string | null;
  startedAt: string | null;
  /** The payload as it came, kept with the cached session. */
  raw: Record<string, unknown>;
};

export function sessionMessageFrom(payload: unknown): SessionMessage {
  const p = asRecord(payload);
  return {
    deviceId: text(p.deviceId),
    cloudSessionId: text(p.cloudSessionId) ?? text(p.sessionId),
    animalId: text(p.animalId),
    animalTag: text(p.animalTag),
    animalSpecies: text(p.animalSpecies),
    operatorId: text(p.operatorId),
    startedAt: text(p.startedAt),
    raw: p,
  };
}
