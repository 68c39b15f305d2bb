import { BlockList, isIP } from 'node:net';
import { isSupportedEncoding } from './weighing-line';
import { gatewayTimeZone, isValidTimeZone } from './scale-time';
import { fieldText as text, NumberFields, type FieldError } from '../util/config-fields';

export type { FieldError };

/** Grams per raw weight unit; the scale's decimal setting decides which applies. */
export const WEIGHT_UNITS = { '0.1': 0.1, '1': 1, '10': 10, '100': 100 } as const;
export type WeightUnit = keyof typeof WEIGHT_UNITS;

export type AckMode = 'receipt' | 'store';

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

/** Defaults from shared/DP401.md; numbers of seconds are as a person types them in the editor. */
export const DP401_DEFAULTS = {
  port: 3001,
  bindAddress: '0.0.0.0',
  allowedSources: '',
  maxConnections: 32,
  maxLineBytes: 4096,
  encoding: 'windows-1254',
  weightUnit: '1',
  maxCapacityKg: 100,
  timeZone: '',
  duplicateWindowS: 5,
  staleAfterS: 45,
  timeoutAfterS: 90,
  idleAfterS: 300,
  addressMap: '',
  ackMode: 'store',
  registrationTimeoutS: 30,
  missingAfterMin: 2,
} as const;

export type RawDp401Config = Partial<Record<keyof typeof DP401_DEFAULTS, unknown>>;

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
  const d = DP401_DEFAULTS;
  const numbers = new NumberFields(raw, {
    port: d.port,
    maxConnections: d.maxConnections,
    maxLineBytes: d.maxLineBytes,
    maxCapacityKg: d.maxCapacityKg,
    duplicateWindowS: d.duplicateWindowS,
    staleAfterS: d.staleAfterS,
    timeoutAfterS: d.timeoutAfterS,
    idleAfterS: d.idleAfterS,
    registrationTimeoutS: d.registrationTimeoutS,
    missingAfterMin: d.missingAfterMin,
  });
  const errors = numbers.errors;
  const num = numbers.read.bind(numbers);

  const port = num('port', 1, 65535);
  const bindAddress = text(raw.bindAddress, d.bindAddress);
  if (!isIP(bindAddress) && bindAddress !== 'localhost') {
    errors.push({ field: 'bindAddress', message: `bindAddress must be an IP address, got "${bindAddress}"` });
  }
  const allow = parseAllowList(text(raw.allowedSources, ''));
  if (allow.error) errors.push({ field: 'allowedSources', message: `allowedSources: ${allow.error}` });
  const maxConnections = num('maxConnections', 1, 10000);
  const maxLineBytes = num('maxLineBytes', 256, 1048576);
  const encoding = text(raw.encoding, d.encoding);
  if (!isSupportedEncoding(encoding)) {
    errors.push({ field: 'encoding', message: `encoding "${encoding}" is not known (try windows-1254)` });
  }
  const weightUnit = text(raw.weightUnit, d.weightUnit);
  if (!(weightUnit in WEIGHT_UNITS)) {
    errors.push({ field: 'weightUnit', message: `weightUnit must be one of ${Object.keys(WEIGHT_UNITS).join(', ')} (grams), got "${weightUnit}"` });
  }
  const maxCapacityKg = num('maxCapacityKg', 0, 100000, false);
  const timeZone = text(raw.timeZone, '') || gatewayTimeZone();
  if (!isValidTimeZone(timeZone)) {
    errors.push({ field: 'timeZone', message: `timeZone "${timeZone}" is not an IANA time zone such as Europe/Istanbul` });
  }
  const duplicateWindowS = num('duplicateWindowS', 0, 3600, false);
  const staleAfterS = num('staleAfterS', 0.1, 86400, false);
  const timeoutAfterS = num('timeoutAfterS', 0.2, 86400, false);
  if (timeoutAfterS <= staleAfterS) {
    errors.push({ field: 'timeoutAfterS', message: `timeoutAfterS (${timeoutAfterS}) must be longer than staleAfterS (${staleAfterS})` });
  }
  const idleAfterS = num('idleAfterS', 0.1, 604800, false);
  const registrationTimeoutS = num('registrationTimeoutS', 0, 86400, false);
  const missingAfterMin = num('missingAfterMin', 0, 10080, false);
  const addr = parseAddressMap(text(raw.addressMap, ''));
  if (addr.error) errors.push({ field: 'addressMap', message: `addressMap: ${addr.error}` });
  const ackMode = text(raw.ackMode, d.ackMode);
  if (ackMode !== 'receipt' && ackMode !== 'store') {
    errors.push({ field: 'ackMode', message: `ackMode must be "receipt" or "store", got "${ackMode}"` });
  }

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
      weightUnit: weightUnit as WeightUnit,
      maxCapacityGrams: Math.round(maxCapacityKg * 1000),
      timeZone,
      duplicateWindowMs: Math.round(duplicateWindowS * 1000),
      staleAfterMs: Math.round(staleAfterS * 1000),
      timeoutAfterMs: Math.round(timeoutAfterS * 1000),
      idleAfterMs: Math.round(idleAfterS * 1000),
      addressMap: addr.map,
      ackMode: ackMode as AckMode,
      registrationTimeoutMs: Math.round(registrationTimeoutS * 1000),
      missingAfterMs: Math.round(missingAfterMin * 60_000),
    },
  };
}
