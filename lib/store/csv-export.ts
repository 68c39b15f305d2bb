import type { StoredEventRow } from './event-log';

/**
 * Events as CSV for a spreadsheet (the admin route GET /carnitrack/events.csv): one line per
 * weighing, RFC 4180 quoting, CRLF. A text that a spreadsheet would run as a formula (starting
 * with = + - @, a tab or a carriage return) gets a leading apostrophe: a product name or an
 * operator typed on a scale must never become a formula on an office PC.
 */

/** The most rows one export answers (a month of a busy plant): a longer range is cut there, so narrow it. */
export const MAX_CSV_ROWS = 1_000_000;

const COLUMNS: ReadonlyArray<readonly [header: string, value: (r: StoredEventRow) => unknown]> = [
  ['receivedAt', (r) => r.event.receivedAt],
  ['scaleTimestamp', (r) => r.event.scaleTimestamp],
  ['deviceId', (r) => r.deviceId],
  ['pluCode', (r) => r.event.pluCode],
  ['productName', (r) => r.event.productName],
  ['weightGrams', (r) => r.event.weightGrams],
  ['tareGrams', (r) => r.event.tareGrams],
  ['grossGrams', (r) => r.event.grossGrams],
  ['barcode', (r) => r.event.barcode],
  ['operator', (r) => r.event.operator],
  ['cloudSessionId', (r) => r.cloudSessionId],
  ['animalTag', (r) => r.event.animalTag],
  ['animalSpecies', (r) => r.event.animalSpecies],
  ['offlineBatchId', (r) => r.offlineBatchId],
  ['syncState', (r) => r.syncState],
  ['cloudEventId', (r) => r.cloudEventId],
  ['failReason', (r) => r.failReason],
  ['localEventId', (r) => r.localEventId],
];

export const CSV_HEADER = COLUMNS.map(([h]) => h).join(',') + '\r\n';

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  let s = typeof v === 'string' ? v : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(r: StoredEventRow): string {
  return COLUMNS.map(([, value]) => cell(value(r))).join(',') + '\r\n';
}

/** `from`/`to` of an export as ISO instants (UTC), or the reason they cannot be read. */
export function csvRange(from: unknown, to: unknown, now: number): { from: string; to: string } | { error: string } {
  const read = (v: unknown, name: string, fallback: number): number | string => {
    if (v === undefined || v === '') return fallback;
    const t = Date.parse(String(v));
    return Number.isFinite(t) ? t : `${name} must be a date or time (e.g. 2026-12-01 or 2026-12-01T06:00:00+03:00), got "${String(v)}"`;
  };
  const f = read(from, 'from', now - 86_400_000);
  const t = read(to, 'to', now);
  if (typeof f === 'string') return { error: f };
  if (typeof t === 'string') return { error: t };
  if (f > t) return { error: 'from must not be after to' };
  return { from: new Date(f).toISOString(), to: new Date(t).toISOString() };
}
