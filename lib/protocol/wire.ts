import { MESSAGES, type EdgeToCloud, type EventAckPayload, type EventPayload, type EventRejectedPayload, type MessageSpec } from './messages';
import { asRecord } from './flow-input';

/**
 * The messages that travel on our own wires, from one of our nodes to another: for each, its
 * type, the builder the sending node uses and the reader the receiving node uses, so renaming
 * a field is one change the compiler follows to both ends.
 *
 * Beside flow-input.ts, not in it: flow-input reads the Cloud protocol's payloads, which any
 * flow may send (it is lenient, as the Cloud link is strict); these are our own messages
 * (`ack`, `not_stored`, `cloud_status`, `event_acks`, `live_weight`, an `event` with the
 * `_session` its reply goes back on, and the protocol messages our nodes hand each other
 * whole), which the protocol does not define and no Cloud sends. Both files read a wire once,
 * at the edge; this one also builds.
 *
 * A message of the wrong shape is refused with a WireError: its key names the text in the
 * receiving node's message catalogue (locales/<lang>/<type>.json, `errors.<key>`), so the
 * node says it in its user's language (nodes/shared/input.ts); the message is the English one.
 * The messages are types, not interfaces, so that each is also a Node-RED message.
 */

/** A message as it arrives on a wire: anything may be missing. */
export interface Received {
  topic?: unknown;
  payload?: unknown;
  _session?: unknown;
}

export class WireError extends Error {
  constructor(
    /** The text's key under the receiving node's `errors`. */
    readonly key: string,
    message: string,
    readonly values: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'WireError';
  }
}

// ---- event: dp401-in → session-cache → event-store ---------------------------------------

/** Routes the reply to a weighing (`ack`, `not_stored`) to the scale connection that sent it; later nodes copy it along. */
export type Dp401Session = {
  type: 'dp401';
  id: string;
};

/** A weighing on its way to the store: untagged from dp401-in, tagged from session-cache. */
export type EventMessage<P extends EventPayload = EventPayload> = {
  topic: 'event';
  payload: P;
  _session?: Dp401Session;
};

/** dp401-in: a weighing read from connection `connectionId`. */
export function eventMessage<P extends EventPayload>(event: P, connectionId: string): EventMessage<P> {
  return { topic: 'event', payload: event, _session: { type: 'dp401', id: connectionId } };
}

/**
 * An event as session-cache reads it and passes it on: its device, and the rest as it came
 * (the store checks that); session-cache adds its tags (lib/sessions SessionTags).
 */
export type WireEvent = Record<string, unknown> & { deviceId: string };

/** session-cache: the event to tag. */
export function eventToTagFrom(msg: Received): WireEvent {
  const event = asRecord(msg.payload);
  if (typeof event.deviceId !== 'string' || !event.deviceId) throw new WireError('event-device', 'event needs msg.payload.deviceId');
  return event as WireEvent;
}

/** The dp401-in connection a message is the reply to, or null (none, or another node's `_session`). */
export function dp401ConnectionOf(msg: Received): string | null {
  const s = msg._session as { type?: unknown; id?: unknown } | null | undefined;
  return s && s.type === 'dp401' && typeof s.id === 'string' ? s.id : null;
}

// ---- ack, not_stored: event-store (or session-cache) → dp401-in --------------------------

/** Which weighing a reply is about, copied from the event (a malformed event may lack either). */
export type ReplyPayload = {
  localEventId?: string;
  deviceId?: string;
};

/** The event is committed and on disk: now its scale may be told OK. */
export type AckMessage = {
  topic: 'ack';
  payload: ReplyPayload & { inserted: boolean };
  /** The event's own `_session`, whoever set it. */
  _session?: unknown;
};

/** The event was not stored: no OK, and dp401-in forgets it, so the scale's resend is stored as new. */
export type NotStoredMessage = {
  topic: 'not_stored';
  payload: ReplyPayload & { error: string };
  _session?: unknown;
};

function replyTo<T extends AckMessage | NotStoredMessage>(event: Received, topic: T['topic'], extra: Omit<T['payload'], keyof ReplyPayload>): T {
  const p = asRecord(event.payload);
  const payload: ReplyPayload = {};
  if (typeof p.localEventId === 'string') payload.localEventId = p.localEventId;
  if (typeof p.deviceId === 'string') payload.deviceId = p.deviceId;
  const reply = { topic, payload: { ...payload, ...extra } } as T;
  if (event._session) reply._session = event._session;
  return reply;
}

/** event-store: the answer to `event` once its commit is on disk (`inserted` false: it was stored before). */
export function ackMessage(event: Received, inserted: boolean): AckMessage {
  return replyTo<AckMessage>(event, 'ack', { inserted });
}

/** event-store or session-cache: the answer to an `event` that could not be stored. */
export function notStoredMessage(event: Received, error: string): NotStoredMessage {
  return replyTo<NotStoredMessage>(event, 'not_stored', { error });
}

/** dp401-in: the connection to send OK on, and the weighing it is for (else the connection's oldest). */
export function ackFrom(msg: Received): { connectionId: string; localEventId?: string } {
  const connectionId = dp401ConnectionOf(msg);
  if (!connectionId)
    throw new WireError('ack-without-session', `an "ack" needs msg._session from dp401-in (wire event-store's "stored" output back, unchanged)`);
  const id = asRecord(msg.payload).localEventId;
  return typeof id === 'string' ? { connectionId, localEventId: id } : { connectionId };
}

/** dp401-in: the weighing to forget, and why it was not stored. */
export function notStoredFrom(msg: Received): { localEventId: string; error: string } {
  const p = asRecord(msg.payload);
  if (typeof p.localEventId !== 'string' || !p.localEventId) {
    const values = { id: 'a weighing', error: 'msg.payload.localEventId is missing' };
    throw new WireError('not-stored', `${values.id} was not stored (${values.error}): no OK sent, the scale's resend will be stored as new`, values);
  }
  return { localEventId: p.localEventId, error: String(p.error ?? 'unknown') };
}

// ---- cloud_status: cloud-link → session-cache, event-store --------------------------------

export type LinkState = 'connecting' | 'connected' | 'waiting' | 'stopped';

/** The Cloud link's state, as CloudClient reports it and cloud_status carries it. */
export type CloudStatus = {
  connected: boolean;
  state: LinkState;
  edgeId: string | null;
  reason: string | null;
  attempt: number;
  nextRetryMs: number | null;
};

export type CloudStatusMessage = {
  topic: 'cloud_status';
  payload: CloudStatus;
};

export function cloudStatusMessage(s: CloudStatus): CloudStatusMessage {
  return {
    topic: 'cloud_status',
    payload: { connected: s.connected, edgeId: s.edgeId, reason: s.reason, attempt: s.attempt, nextRetryMs: s.nextRetryMs, state: s.state },
  };
}

/** Whether a `cloud_status` says the link is up; null when it does not say (a flow may send only `connected`). */
export function cloudConnectedOf(msg: Received): boolean | null {
  const connected = asRecord(msg.payload).connected;
  return typeof connected === 'boolean' ? connected : null;
}

/** session-cache, event-store: `connected`, or a WireError. */
export function cloudStatusFrom(msg: Received): { connected: boolean } {
  const connected = cloudConnectedOf(msg);
  if (connected === null) throw new WireError('cloud-status', 'cloud_status needs msg.payload.connected true or false');
  return { connected };
}

// ---- event_acks: cloud-link → event-store -------------------------------------------------

/** The Cloud's acks and rejections of one turn, in one message (cloud-link's "Event acks: grouped"). */
export type EventAcksPayload = {
  acks: EventAckPayload[];
  rejected: EventRejectedPayload[];
};

export type EventAcksMessage = {
  topic: 'event_acks';
  payload: EventAcksPayload;
};

export function eventAcksMessage(group: EventAcksPayload): EventAcksMessage {
  return { topic: 'event_acks', payload: group };
}

/**
 * event-store: the two lists (a missing one is empty). Their items are read one by one as
 * they are applied (flow-input's eventAckFrom, eventRejectedFrom), so one bad item does not
 * hold the others back.
 */
export function eventAcksFrom(msg: Received): { acks: unknown[]; rejected: unknown[] } {
  const p = asRecord(msg.payload);
  if (!Array.isArray(p.acks) && !Array.isArray(p.rejected))
    throw new WireError('event-acks', 'event_acks needs msg.payload.acks and/or msg.payload.rejected (arrays), as cloud-link sends them');
  return { acks: Array.isArray(p.acks) ? (p.acks as unknown[]) : [], rejected: Array.isArray(p.rejected) ? (p.rejected as unknown[]) : [] };
}

// ---- live_weight: session-cache → whatever shows it ---------------------------------------

/** A tagged event for people watching (session-cache's output 2): a copy, never the event on its way to the store. */
export type LiveWeightMessage = {
  topic: 'live_weight';
  payload: WireEvent;
};

export function liveWeightMessage(event: WireEvent): LiveWeightMessage {
  return { topic: 'live_weight', payload: structuredClone(event) };
}

/** The tagged event of a `live_weight` (a dashboard's function node reads the same fields). */
export function liveWeightFrom(msg: Received): WireEvent {
  const p = asRecord(msg.payload);
  if (typeof p.deviceId !== 'string') throw new WireError('live-weight', 'live_weight needs msg.payload.deviceId');
  return p as WireEvent;
}

// ---- protocol messages handed on whole ----------------------------------------------------

/**
 * A Cloud protocol message on a wire: event-store's `event`, `event_batch` and batch
 * announcements and dp401-in's device status to cloud-link (its diagnostics, on the same
 * output, have the same shape); session-cache's batch
 * announcements to event-store; what cloud-link received from the Cloud to the others (read
 * there by flow-input.ts and lib/plu/plu-item.ts).
 */
export type ProtocolMessage<T extends string = string, P = Record<string, unknown>> = {
  topic: T;
  payload: P;
};

export function protocolMessage<T extends string, P>(topic: T, payload: P): ProtocolMessage<T, P> {
  return { topic, payload };
}

/** cloud-link: a message it may send the Cloud, with its spec; its payload as a plain object (the codec checks it). */
export function toCloudFrom(msg: Received): { topic: keyof EdgeToCloud; spec: MessageSpec; payload: Record<string, unknown> } {
  const topic = String(msg.topic ?? '');
  const spec = Object.hasOwn(MESSAGES, topic) ? MESSAGES[topic] : undefined;
  if (!spec || spec.direction === 'to-edge') throw new WireError('not-protocol', `"${topic}" is not a message the Edge sends to the Cloud`, { topic });
  return { topic: topic as keyof EdgeToCloud, spec, payload: asRecord(msg.payload) };
}
