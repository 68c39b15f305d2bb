import { fieldText, type FieldError } from '../util/config-fields';
import { CLOUD_LINK_SETTINGS } from '../settings/node-fields';
import { SettingReader } from '../settings/setting-reader';

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

export const DEFAULT_CLOUD_URL: string = CLOUD_LINK_SETTINGS.url.default;

/** `env` is the process environment: CLOUD_WS_URL is the URL's fallback. */
export function parseCloudLinkSettings(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): { settings: CloudLinkSettings | null; errors: FieldError[] } {
  const f = new SettingReader(raw, CLOUD_LINK_SETTINGS);
  const keepAliveS = f.number('keepAliveS');
  const pongTimeoutS = f.number('pongTimeoutS');
  const minBackoffS = f.number('minBackoffS');
  const maxBackoffS = f.number('maxBackoffS');
  const handshakeTimeoutS = f.number('handshakeTimeoutS');
  const maxFrameKB = f.number('maxFrameKB');
  const errors = f.errors;
  if (maxBackoffS < minBackoffS) errors.push({ field: 'maxBackoffS', message: `maxBackoffS (${maxBackoffS}) must not be below minBackoffS (${minBackoffS})` });
  const url = fieldText(raw.url, env.CLOUD_WS_URL || DEFAULT_CLOUD_URL);
  if (!/^wss?:\/\/[^\s]+$/.test(url)) errors.push({ field: 'url', message: `url must start with ws:// or wss://, got "${url}"` });
  // Flows saved before this setting existed keep one message per ack (the setting's default).
  const ackOutput = f.choice('ackOutput');
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
      ackOutput,
    },
    errors,
  };
}
