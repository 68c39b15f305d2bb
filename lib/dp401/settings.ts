import { BlockList, isIP } from 'node:net';
import { isSupportedEncoding } from './weighing-line';
import { gatewayTimeZone, isValidTimeZone } from './scale-time';
import type { FieldError } from '../util/config-fields';
import { DP401_IN_SETTINGS } from '../settings/node-fields';
import { SettingReader, type ChoiceOf } from '../settings/setting-reader';

export type { FieldError };

/** The scale's weight unit in grams (its decimal setting decides which applies). */
export type WeightUnit = ChoiceOf<(typeof DP401_IN_SETTINGS)['weightUnit']>;

/** Grams per raw weight unit: each unit's value read as a number. */
export const WEIGHT_UNITS = Object.fromEntries(DP401_IN_SETTINGS.weightUnit.choices.map((c) => [c.value, Number(c.value)])) as Record<WeightUnit, number>;

export type AckMode = ChoiceOf<(typeof DP401_IN_SETTINGS)['ackMode']>;

export interface Dp401Settings {
  port: number;
  bindAddress: string;
  allowedSources: string[];
  maxConnections: number;
  maxLineBytes: number;
  encoding: string;
  weightUnit: WeightUnit;
  maxCapacityGrams: number;
  timeZone: string;
  duplicateWindowMs: number;
  staleAfterMs: number;
  timeoutAfterMs: number;
  idleAfterMs: number;
  addressMap: Map<string, string>;
  ackMode: AckMode;
  /** A socket with no SCALE-NN, no address-map entry and no weighing by then is closed; 0 = never. */
  registrationTimeoutMs: number;
  /** A known scale disconnected this long (while the gateway runs) is a problem naming it; 0 = never. */
  missingAfterMs: number;
}

/** Each field's default (lib/settings/node-fields.ts holds them, with their limits). */
export const DP401_DEFAULTS = Object.fromEntries(Object.entries(DP401_IN_SETTINGS).map(([k, v]) => [k, v.default])) as {
  readonly [K in keyof typeof DP401_IN_SETTINGS]: (typeof DP401_IN_SETTINGS)[K]['default'];
};

export type RawDp401Config = Partial<Record<keyof typeof DP401_IN_SETTINGS, unknown>>;

export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** Strips the IPv4-mapped prefix Node gives IPv4 peers on a dual-stack socket. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** `192.168.1.0/24, 10.0.0.5` -> entries; an entry is an address or address/prefix. */
export function parseAllowList(text: string): { entries: string[]; error?: string } {
  const entries = text.split(/[\s,;]+/).filter(Boolean);
  for (const e of entries) {
    const [addr, prefix, extra] = e.split('/');
    const family = isIP(addr);
    if (!family || extra !== undefined) return { entries, error: `"${e}" is not an IP address or CIDR` };
    if (prefix !== undefined) {
      const max = family === 4 ? 32 : 128;
      if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) {
        return { entries, error: `"${e}" has a prefix length outside 0..${max}` };
      }
    }
  }
  return { entries };
}

/** Builds a matcher over `parseAllowList` entries; an empty list allows everyone. */
export function allowListMatcher(entries: string[]): (address: string) => boolean {
  if (entries.length === 0) return () => true;
  const list = new BlockList();
  for (const e of entries) {
    const [addr, prefix] = e.split('/');
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(prefix), type);
  }
  return (address) => {
    const a = normalizeAddress(address);
    return list.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4');
  };
}

/** `192.168.1.21=SCALE-01` one per line (or comma-separated). */
export function parseAddressMap(text: string): { map: Map<string, string>; error?: string } {
  const map = new Map<string, string>();
  for (const entry of text
    .split(/[\n,;]+/)
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([^=\s]+)\s*=\s*(\S+)$/.exec(entry);
    if (!m || !isIP(m[1])) return { map, error: `"${entry}" is not "address=DEVICE-ID"` };
    if (!DEVICE_ID_PATTERN.test(m[2])) return { map, error: `device id "${m[2]}" may hold only letters, digits, . _ -` };
    map.set(normalizeAddress(m[1]), m[2]);
  }
  return { map };
}

/**
 * Validates a node's configuration as stored in the flow (strings after Node-RED's
 * `${ENV}` substitution). Empty fields take their default. Every error names its field.
 */
export function parseDp401Settings(raw: RawDp401Config): { settings?: Dp401Settings; errors: FieldError[] } {
  const f = new SettingReader(raw, DP401_IN_SETTINGS);
  const errors = f.errors;

  const port = f.number('port');
  const bindAddress = f.text('bindAddress');
  if (!isIP(bindAddress) && bindAddress !== 'localhost') {
    errors.push({ field: 'bindAddress', message: `bindAddress must be an IP address, got "${bindAddress}"` });
  }
  const allow = parseAllowList(f.text('allowedSources'));
  if (allow.error) errors.push({ field: 'allowedSources', message: `allowedSources: ${allow.error}` });
  const maxConnections = f.number('maxConnections');
  const maxLineBytes = f.number('maxLineBytes');
  const encoding = f.text('encoding');
  if (!isSupportedEncoding(encoding)) {
    errors.push({ field: 'encoding', message: `encoding "${encoding}" is not known (try windows-1254)` });
  }
  const weightUnit = f.choice('weightUnit');
  const maxCapacityKg = f.number('maxCapacityKg');
  const timeZone = f.text('timeZone') || gatewayTimeZone();
  if (!isValidTimeZone(timeZone)) {
    errors.push({ field: 'timeZone', message: `timeZone "${timeZone}" is not an IANA time zone such as Europe/Istanbul` });
  }
  const duplicateWindowS = f.number('duplicateWindowS');
  const staleAfterS = f.number('staleAfterS');
  const timeoutAfterS = f.number('timeoutAfterS');
  if (timeoutAfterS <= staleAfterS) {
    errors.push({ field: 'timeoutAfterS', message: `timeoutAfterS (${timeoutAfterS}) must be longer than staleAfterS (${staleAfterS})` });
  }
  const idleAfterS = f.number('idleAfterS');
  const registrationTimeoutS = f.number('registrationTimeoutS');
  const missingAfterMin = f.number('missingAfterMin');
  const addr = parseAddressMap(f.text('addressMap'));
  if (addr.error) errors.push({ field: 'addressMap', message: `addressMap: ${addr.error}` });
  const ackMode = f.choice('ackMode');

  if (errors.length) return { errors };
  return {
    errors,
    settings: {
      port,
      bindAddress,
      allowedSources: allow.entries,
      maxConnections,
      maxLineBytes,
      encoding,
      weightUnit,
      maxCapacityGrams: Math.round(maxCapacityKg * 1000),
      timeZone,
      duplicateWindowMs: Math.round(duplicateWindowS * 1000),
      staleAfterMs: Math.round(staleAfterS * 1000),
      timeoutAfterMs: Math.round(timeoutAfterS * 1000),
      idleAfterMs: Math.round(idleAfterS * 1000),
      addressMap: addr.map,
      ackMode,
      registrationTimeoutMs: Math.round(registrationTimeoutS * 1000),
      missingAfterMs: Math.round(missingAfterMin * 60_000),
    },
  };
}
