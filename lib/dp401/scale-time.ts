/**
 * The scale prints its local wall-clock time with no zone. These helpers turn it into an
 * ISO 8601 timestamp with the offset of a configured IANA zone, using Node's ICU data.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

export function isValidTimeZone(zone: string): boolean {
  if (!zone) return false;
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** The gateway's own zone, the default for scales. */
export function gatewayTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

const QUARTER_HOUR = 900_000;
/** Offsets already worked out, by zone and quarter hour (bounded: cleared when large). */
const offsets = new Map<string, number>();

/**
 * Offset of `zone` from UTC at instant `ms`, in minutes. Zone changes fall on quarter hours
 * of UTC, so one answer serves a whole quarter hour (formatToParts is slow per weighing).
 */
function offsetMinutes(zone: string, ms: number): number {
  const key = `${zone} ${Math.floor(ms / QUARTER_HOUR)}`;
  let off = offsets.get(key);
  if (off === undefined) {
    if (offsets.size >= 10_000) offsets.clear();
    off = computeOffsetMinutes(zone, ms);
    offsets.set(key, off);
  }
  return off;
}

function computeOffsetMinutes(zone: string, ms: number): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

const pad = (n: number, w = 2): string => String(Math.abs(n)).padStart(w, '0');

/**
 * `30.01.2026` + `10:30:00` in `Europe/Istanbul` -> `2026-01-30T10:30:00+03:00`.
 * Returns null when the date or time does not exist on the calendar.
 */
export function scaleTimestamp(date: string, time: string, zone: string): string | null {
  const d = /^(\d\d)\.(\d\d)\.(\d{4})$/.exec(date);
  const t = /^(\d\d):(\d\d):(\d\d)$/.exec(time);
  if (!d || !t) return null;
  const [day, month, year] = [Number(d[1]), Number(d[2]), Number(d[3])];
  const [h, mi, s] = [Number(t[1]), Number(t[2]), Number(t[3])];
  if (month < 1 || month > 12 || day < 1 || h > 23 || mi > 59 || s > 59) return null;
  const wall = Date.UTC(year, month - 1, day, h, mi, s);
  if (new Date(wall).getUTCDate() !== day) return null; // 31.02 and the like
  // Two passes settle the offset around DST changes.
  let off = offsetMinutes(zone, wall);
  const second = offsetMinutes(zone, wall - off * 60000);
  if (second !== off) off = second;
  const sign = off < 0 ? '-' : '+';
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(h)}:${pad(mi)}:${pad(s)}` + `${sign}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`;
}
