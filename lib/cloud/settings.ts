import { fieldText, NumberFields, type FieldError } from '../util/config-fields';

/** cloud-link's settings: the URL, timings in seconds, and how acks leave the node. */
export interface CloudLinkSettings {
  url: string;
  keepAliveS: number;
  pongTimeoutS: number;
  minBackoffS: number;
  maxBackoffS: number;
  handshakeTimeoutS: number;
  maxFrameKB: number;
  /** `grouped`: one `event_acks` message per turn on output 3; `each`: one message per ack. */
  ackOutput: 'grouped' | 'each';
}

export const DEFAULT_CLOUD_URL = 'wss://api.carnitrack.cloud/edge/ws';

/** `env` is the process environment: CLOUD_WS_URL is the URL's fallback. */
export function parseCloudLinkSettings(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): { settings: CloudLinkSettings | null; errors: FieldError[] } {
  const f = new NumberFields(raw, { keepAliveS: 30, pongTimeoutS: 10, minBackoffS: 1, maxBackoffS: 60, handshakeTimeoutS: 10, maxFrameKB: 1024 });
  const keepAliveS = f.read('keepAliveS', 0.1, 3600, false);
  const pongTimeoutS = f.read('pongTimeoutS', 0.1, 600, false);
  const minBackoffS = f.read('minBackoffS', 0.01, 3600, false);
  const maxBackoffS = f.read('maxBackoffS', 0.01, 86_400, false);
  const handshakeTimeoutS = f.read('handshakeTimeoutS', 0.1, 600, false);
  const maxFrameKB = f.read('maxFrameKB', 1, 65_536);
  const errors = f.errors;
  if (maxBackoffS < minBackoffS) errors.push({ field: 'maxBackoffS', message: `maxBackoffS (${maxBackoffS}) must not be below minBackoffS (${minBackoffS})` });
  const url = fieldText(raw.url, env.CLOUD_WS_URL || DEFAULT_CLOUD_URL);
  if (!/^wss?:\/\/[^\s]+$/.test(url)) errors.push({ field: 'url', message: `url must start with ws:// or wss://, got "${url}"` });
  // Flows saved before this setting existed keep one message per ack.
  const ackOutput = fieldText(raw.ackOutput, 'each');
  if (ackOutput !== 'grouped' && ackOutput !== 'each')
    errors.push({ field: 'ackOutput', message: `ackOutput must be "grouped" or "each", got "${String(raw.ackOutput)}"` });
  if (errors.length) return { settings: null, errors };
  return {
    settings: {
      url,
      keepAliveS,
      pongTimeoutS,
      minBackoffS,
      maxBackoffS,
      handshakeTimeoutS,
      maxFrameKB,
      ackOutput: ackOutput as CloudLinkSettings['ackOutput'],
    },
    errors,
  };
}
