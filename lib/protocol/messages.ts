import type { JSONSchemaType } from 'ajv';

/**
 * The CarniTrack Edge <-> Cloud protocol v3.0 as data: one TypeScript type and one JSON
 * Schema per message. Ajv's JSONSchemaType checks each schema against its type at compile
 * time, so the two cannot drift apart. Payloads allow extra properties: either side may add
 * fields without breaking the other. Payloads are type aliases, not interfaces, so that each
 * is also a plain Record<string, unknown> where a message is handled generically.
 */

export interface Envelope {
  type: string;
  payload: Record<string, unknown>;
  timestamp: string;
  messageId: string;
  edgeId?: string | null;
}

export const envelopeSchema: JSONSchemaType<Envelope> = {
  $id: 'carnitrack/envelope',
  type: 'object',
  properties: {
    type: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9_]*$' },
    payload: { type: 'object', required: [] },
    timestamp: { type: 'string', minLength: 1, maxLength: 64 },
    messageId: { type: 'string', minLength: 1, maxLength: 128 },
    edgeId: { type: 'string', nullable: true, maxLength: 128 },
  },
  required: ['type', 'payload', 'timestamp', 'messageId'],
  additionalProperties: false,
};

// ---- shared pieces --------------------------------------------------------------------------

const id = { type: 'string', minLength: 1, maxLength: 128 } as const;
const optId = { type: 'string', nullable: true, maxLength: 128 } as const;
const optText = { type: 'string', nullable: true, maxLength: 1024 } as const;

// ---- Edge -> Cloud --------------------------------------------------------------------------

export type RegisterPayload = {
  edgeId?: string | null;
  siteId?: string | null;
  siteName?: string | null;
  version: string;
  capabilities: string[];
};
const registerSchema: JSONSchemaType<RegisterPayload> = {
  type: 'object',
  properties: {
    edgeId: optId,
    siteId: optId,
    siteName: optText,
    version: { type: 'string', maxLength: 64 },
    capabilities: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 64 },
  },
  required: ['version', 'capabilities'],
  additionalProperties: true,
};

export type DeviceConnectedPayload = {
  deviceId: string;
  globalDeviceId?: string | null;
  sourceIp?: string | null;
  deviceType?: string | null;
};
const deviceConnectedSchema: JSONSchemaType<DeviceConnectedPayload> = {
  type: 'object',
  properties: { deviceId: id, globalDeviceId: optId, sourceIp: optText, deviceType: optText },
  required: ['deviceId'],
  additionalProperties: true,
};

export type DeviceDisconnectedPayload = {
  deviceId: string;
  reason: string;
  timestamp: string;
  globalDeviceId?: string | null;
};
const deviceDisconnectedSchema: JSONSchemaType<DeviceDisconnectedPayload> = {
  type: 'object',
  properties: { deviceId: id, reason: { type: 'string', maxLength: 256 }, timestamp: { type: 'string', maxLength: 64 }, globalDeviceId: optId },
  required: ['deviceId', 'reason', 'timestamp'],
  additionalProperties: true,
};

export type DeviceHeartbeatPayload = {
  deviceId: string;
  status: string;
  heartbeatCount: number;
  timestamp: string;
  globalDeviceId?: string | null;
};
const deviceHeartbeatSchema: JSONSchemaType<DeviceHeartbeatPayload> = {
  type: 'object',
  properties: {
    deviceId: id,
    status: { type: 'string', maxLength: 32 },
    heartbeatCount: { type: 'integer', minimum: 0 },
    timestamp: { type: 'string', maxLength: 64 },
    globalDeviceId: optId,
  },
  required: ['deviceId', 'status', 'heartbeatCount', 'timestamp'],
  additionalProperties: true,
};

/** One weighing as the Cloud receives it (quickref "Event Payload"). */
export type EventPayload = {
  localEventId: string;
  deviceId: string;
  weightGrams: number;
  receivedAt: string;
  globalDeviceId?: string | null;
  cloudSessionId?: string | null;
  offlineMode?: boolean;
  offlineBatchId?: string | null;
  pluCode?: string;
  productName?: string;
  barcode?: string;
  scaleTimestamp?: string | null;
};
export const eventPayloadSchema: JSONSchemaType<EventPayload> = {
  type: 'object',
  properties: {
    localEventId: id,
    deviceId: id,
    weightGrams: { type: 'integer', minimum: -10_000_000, maximum: 100_000_000 },
    receivedAt: { type: 'string', maxLength: 64 },
    globalDeviceId: optId,
    cloudSessionId: optId,
    offlineMode: { type: 'boolean', nullable: true },
    offlineBatchId: optId,
    pluCode: { type: 'string', nullable: true, maxLength: 16 },
    productName: { type: 'string', nullable: true, maxLength: 256 },
    barcode: { type: 'string', nullable: true, maxLength: 64 },
    scaleTimestamp: { type: 'string', nullable: true, maxLength: 64 },
  },
  required: ['localEventId', 'deviceId', 'weightGrams', 'receivedAt'],
  additionalProperties: true,
};

export type EventBatchPayload = {
  events: EventPayload[];
};
const eventBatchSchema: JSONSchemaType<EventBatchPayload> = {
  type: 'object',
  properties: { events: { type: 'array', items: eventPayloadSchema, minItems: 1, maxItems: 10_000 } },
  required: ['events'],
  additionalProperties: true,
};

export type OfflineBatchStartPayload = {
  batchId: string;
  deviceId: string;
  startedAt: string;
  globalDeviceId?: string | null;
  cloudSessionId?: string | null;
  reason?: string | null;
};
const offlineBatchStartSchema: JSONSchemaType<OfflineBatchStartPayload> = {
  type: 'object',
  properties: { batchId: id, deviceId: id, startedAt: { type: 'string', maxLength: 64 }, globalDeviceId: optId, cloudSessionId: optId, reason: optText },
  required: ['batchId', 'deviceId', 'startedAt'],
  additionalProperties: true,
};

export type OfflineBatchEndPayload = {
  batchId: string;
  deviceId: string;
  startedAt: string;
  endedAt: string;
  eventCount: number;
  totalWeightGrams: number;
  globalDeviceId?: string | null;
  cloudSessionId?: string | null;
};
const offlineBatchEndSchema: JSONSchemaType<OfflineBatchEndPayload> = {
  type: 'object',
  properties: {
    batchId: id,
    deviceId: id,
    startedAt: { type: 'string', maxLength: 64 },
    endedAt: { type: 'string', maxLength: 64 },
    eventCount: { type: 'integer', minimum: 0 },
    totalWeightGrams: { type: 'integer' },
    globalDeviceId: optId,
    cloudSessionId: optId,
  },
  required: ['batchId', 'deviceId', 'startedAt', 'endedAt', 'eventCount', 'totalWeightGrams'],
  additionalProperties: true,
};

// ---- Cloud -> Edge --------------------------------------------------------------------------

export type RegisteredPayload = {
  edgeId: string;
  siteId?: string | null;
};
const registeredSchema: JSONSchemaType<RegisteredPayload> = {
  type: 'object',
  properties: { edgeId: id, siteId: optId },
  required: ['edgeId'],
  additionalProperties: true,
};

export type ConfigUpdatePayload = {
  edgeId?: string | null;
};
const configUpdateSchema: JSONSchemaType<ConfigUpdatePayload> = {
  type: 'object',
  properties: { edgeId: optId },
  required: [],
  additionalProperties: true,
};

/** session_started; `sessionId` is accepted as an alias of `cloudSessionId` (older Cloud builds). */
export type SessionStartedPayload = {
  deviceId: string;
  cloudSessionId?: string | null;
  sessionId?: string | null;
  animalId?: string | null;
  animalTag?: string | null;
  animalSpecies?: string | null;
  operatorId?: string | null;
};
const sessionStartedSchema: JSONSchemaType<SessionStartedPayload> = {
  type: 'object',
  properties: { deviceId: id, cloudSessionId: optId, sessionId: optId, animalId: optId, animalTag: optText, animalSpecies: optText, operatorId: optId },
  required: ['deviceId'],
  anyOf: [{ required: ['cloudSessionId'] }, { required: ['sessionId'] }],
  additionalProperties: true,
};

export type SessionChangePayload = {
  deviceId?: string | null;
  cloudSessionId?: string | null;
  sessionId?: string | null;
  reason?: string | null;
};
const sessionChangeSchema: JSONSchemaType<SessionChangePayload> = {
  type: 'object',
  properties: { deviceId: optId, cloudSessionId: optId, sessionId: optId, reason: optText },
  required: [],
  anyOf: [{ required: ['deviceId'] }, { required: ['cloudSessionId'] }, { required: ['sessionId'] }],
  additionalProperties: true,
};

export type EventAckPayload = {
  localEventId: string;
  cloudEventId?: string | null;
  status: 'accepted' | 'duplicate';
};
const eventAckSchema: JSONSchemaType<EventAckPayload> = {
  type: 'object',
  properties: { localEventId: id, cloudEventId: optId, status: { type: 'string', enum: ['accepted', 'duplicate'] } },
  required: ['localEventId', 'status'],
  additionalProperties: true,
};

export type EventRejectedPayload = {
  localEventId: string;
  reason: string;
};
const eventRejectedSchema: JSONSchemaType<EventRejectedPayload> = {
  type: 'object',
  properties: { localEventId: id, reason: { type: 'string', maxLength: 1024 } },
  required: ['localEventId', 'reason'],
  additionalProperties: true,
};

export type ErrorPayload = {
  reason: string;
  messageType?: string | null;
};
const errorSchema: JSONSchemaType<ErrorPayload> = {
  type: 'object',
  properties: { reason: { type: 'string', maxLength: 4096 }, messageType: optText },
  required: ['reason'],
  additionalProperties: true,
};

/** Application-level keep-alive, either way; answered with `pong`. */
export type PingPayload = Record<string, never>;
const emptySchema = { type: 'object', required: [], additionalProperties: true } as const;

// ---- PLU catalogue (Cloud -> Edge, for plu-out) ----------------------------------------------

export const pluItemSchema = {
  type: 'object',
  properties: {
    pluCode: { type: ['string', 'integer'], pattern: '^\\d{1,5}$', minimum: 1, maximum: 99999 },
    name: { type: 'string', maxLength: 256 },
    price: { type: 'integer', minimum: 0 },
    barcode: { type: ['string', 'integer'] },
    department: { type: ['string', 'integer'] },
    unitType: { type: 'string', enum: ['kg', 'piece'] },
    tareGrams: { type: 'integer', minimum: 0 },
    lot: { type: 'string', maxLength: 64 },
    date1: { type: ['string', 'null'], maxLength: 32 },
    date2: { type: ['string', 'null'], maxLength: 32 },
    labelType: { type: 'integer', minimum: 0 },
    extra: { type: 'object', additionalProperties: { type: 'string' } },
  },
  required: ['pluCode', 'name', 'price'],
  additionalProperties: true,
} as const;
const pluDeletedSchema = {
  type: 'object',
  properties: { pluCode: pluItemSchema.properties.pluCode },
  required: ['pluCode'],
  additionalProperties: true,
} as const;
const pluCatalogSchema = {
  type: 'object',
  // Items are checked one by one by plu-out, so one bad item does not cost the catalogue.
  properties: { items: { type: 'array', items: { type: 'object' }, maxItems: 99999 } },
  required: ['items'],
  additionalProperties: true,
} as const;

// ---- the payload of each message type -------------------------------------------------------

/** PLU messages are checked by their schemas and read field by field by plu-out (lib/plu/plu-item.ts). */
export type PluMessagePayload = Record<string, unknown>;

/** What the Cloud sends the Edge, by message type. */
export type CloudToEdge = {
  registered: RegisteredPayload;
  config_update: ConfigUpdatePayload;
  session_started: SessionStartedPayload;
  session_ended: SessionChangePayload;
  session_paused: SessionChangePayload;
  session_resumed: SessionChangePayload;
  event_ack: EventAckPayload;
  event_rejected: EventRejectedPayload;
  plu_updated: PluMessagePayload;
  plu_deleted: PluMessagePayload;
  plu_catalog: PluMessagePayload;
  error: ErrorPayload;
  ping: PingPayload;
  pong: PingPayload;
};

/** A message from the Cloud, checked against its schema: its type and its typed payload. */
export type CloudToEdgeMessage = { [K in keyof CloudToEdge]: [type: K, payload: CloudToEdge[K]] }[keyof CloudToEdge];

/** What the Edge sends the Cloud, by message type. */
export type EdgeToCloud = {
  register: RegisterPayload;
  device_connected: DeviceConnectedPayload;
  device_disconnected: DeviceDisconnectedPayload;
  device_heartbeat: DeviceHeartbeatPayload;
  event: EventPayload;
  event_batch: EventBatchPayload;
  offline_batch_start: OfflineBatchStartPayload;
  offline_batch_end: OfflineBatchEndPayload;
  error: ErrorPayload;
  ping: PingPayload;
  pong: PingPayload;
};

// ---- the registry -----------------------------------------------------------------------------

export type Direction = 'to-cloud' | 'to-edge' | 'both';

export interface MessageSpec {
  direction: Direction;
  schema: object;
  /** Sent again by event-store from SQLite: never queued in memory while the link is down. */
  storeBacked?: boolean;
  /** Device status: while down, only the latest per device is kept. */
  deviceStatus?: boolean;
}

export const MESSAGES: Record<string, MessageSpec> = {
  register: { direction: 'to-cloud', schema: registerSchema },
  device_connected: { direction: 'to-cloud', schema: deviceConnectedSchema, deviceStatus: true },
  device_disconnected: { direction: 'to-cloud', schema: deviceDisconnectedSchema, deviceStatus: true },
  device_heartbeat: { direction: 'to-cloud', schema: deviceHeartbeatSchema, deviceStatus: true },
  event: { direction: 'to-cloud', schema: eventPayloadSchema, storeBacked: true },
  event_batch: { direction: 'to-cloud', schema: eventBatchSchema, storeBacked: true },
  offline_batch_start: { direction: 'to-cloud', schema: offlineBatchStartSchema, storeBacked: true },
  offline_batch_end: { direction: 'to-cloud', schema: offlineBatchEndSchema, storeBacked: true },
  registered: { direction: 'to-edge', schema: registeredSchema },
  config_update: { direction: 'to-edge', schema: configUpdateSchema },
  session_started: { direction: 'to-edge', schema: sessionStartedSchema },
  session_ended: { direction: 'to-edge', schema: sessionChangeSchema },
  session_paused: { direction: 'to-edge', schema: sessionChangeSchema },
  session_resumed: { direction: 'to-edge', schema: sessionChangeSchema },
  event_ack: { direction: 'to-edge', schema: eventAckSchema },
  event_rejected: { direction: 'to-edge', schema: eventRejectedSchema },
  plu_updated: { direction: 'to-edge', schema: pluItemSchema },
  plu_deleted: { direction: 'to-edge', schema: pluDeletedSchema },
  plu_catalog: { direction: 'to-edge', schema: pluCatalogSchema },
  error: { direction: 'both', schema: errorSchema },
  ping: { direction: 'both', schema: emptySchema },
  pong: { direction: 'both', schema: emptySchema },
};
