import type * as net from 'node:net';
import type { WeighingEvent } from './weighing-event';
import type { DeviceHealth } from './device-registry';
import type { DeviceConnectedPayload, DeviceDisconnectedPayload, DeviceHeartbeatPayload } from '../protocol/messages';

/**
 * What a ScaleGateway tells its owner, as types: the events it emits, the device messages the
 * dp401-in node passes on to the flow, warnings and why a socket closed. Kept apart from the
 * gateway so that the parts it is made of (flow control, the views) and the adapter can name
 * them without the gateway itself.
 */

export type DeviceTopic = DeviceMessage[0];

/**
 * What dp401-in tells the flow about a scale. The first three go on to the Cloud as they are
 * (their payloads are the protocol's, with the gateway's extra fields); the last two are for the
 * flow only.
 */
export type DeviceMessage =
  | [topic: 'device_connected', payload: DeviceConnectedPayload & { sourceIp: string; connectedAt: string }]
  | [topic: 'device_disconnected', payload: DeviceDisconnectedPayload & { sourceIp: string }]
  | [topic: 'device_heartbeat', payload: DeviceHeartbeatPayload & { sourceIp: string }]
  | [topic: 'device_status', payload: { deviceId: string; status: DeviceHealth; previousStatus: DeviceHealth; sourceIp: string | undefined; timestamp: string }]
  | [
      topic: 'duplicate_suppressed',
      payload: {
        deviceId: string;
        pluCode: string;
        weightGrams: number;
        tareGrams: number;
        originalEventId: string;
        secondsAfterOriginal: number;
        raw: string;
        sourceIp: string;
        receivedAt: string;
      },
    ];

export type DisconnectReason =
  | 'closed-by-scale'
  | 'replaced'
  | 'heartbeat-timeout'
  | 'requested'
  | 'socket-error'
  /** Neither `SCALE-NN`, an address-map entry nor a weighing within the registration deadline. */
  | 'registration-timeout'
  /** All slots were taken: the oldest socket that never identified itself made room. */
  | 'evicted';

export interface LineRejected {
  error: string;
  raw: string;
  deviceId: string | null;
  sourceIp: string;
}

export interface GatewayWarning {
  code:
    | 'junk'
    | 'overflow'
    | 'unregistered'
    | 'id-conflict'
    | 'refused'
    | 'evicted'
    | 'registration-timeout'
    | 'bad-register'
    | 'ack-unknown'
    | 'ack-backlog'
    /** The known-scales file could not be read or written. */
    | 'known-scales'
    /** Reading stopped: one scale, or all of them, have too many weighings waiting for OK. */
    | 'paused';
  message: string;
  deviceId?: string | null;
  sourceIp?: string;
}

export interface GatewayEvents {
  /** A weighing to store, and the id of the connection its OK goes to (see ScaleGateway.acknowledge). */
  event: [event: WeighingEvent, connectionId: string];
  device: DeviceMessage;
  'line-rejected': [info: LineRejected];
  warning: [warning: GatewayWarning];
  /** A line for the log (a scale connected or disconnected), at most one per scale and kind a minute. */
  info: [message: string];
  listening: [address: net.AddressInfo];
  'bind-error': [error: NodeJS.ErrnoException, retryInMs: number];
  change: [];
}
