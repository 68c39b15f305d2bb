import * as iconv from 'iconv-lite';

/**
 * One DP-401 weighing line, field by field (see shared/DP401.md section 1).
 * Weights stay raw integers here: their unit depends on the scale's decimal setting.
 */
export interface WeighingLine {
  pluCode: string;
  /** The line carried a `P` or `P"` prefix: the scale resent it. */
  resent: boolean;
  time: string;
  date: string;
  productName: string;
  barcode: string;
  code: string;
  operator: string;
  grossRaw: number;
  tareRaw: number;
  netRaw: number;
  flags: string[];
  company: string;
  /** The decoded line as the scale sent it, without terminator. */
  raw: string;
}

export type ParseResult = { ok: true; line: WeighingLine } | { ok: false; error: string; raw: string };

const FIXED_FIELDS = 10;

/** True when `encoding` is one iconv-lite can decode. */
export function isSupportedEncoding(encoding: string): boolean {
  return iconv.encodingExists(encoding);
}

export function decodeText(bytes: Buffer, encoding: string): string {
  return iconv.decode(bytes, encoding);
}

export function encodeText(text: string, encoding: string): Buffer {
  return iconv.encode(text, encoding);
}

function rawWeight(field: string, name: string): number | string {
  if (!/^\d{1,12}$/.test(field)) return `${name} "${field}" is not an unsigned integer`;
  return Number(field);
}

/** Parses one weighing line (bytes without the terminator). Never throws. */
export function parseWeighingLine(bytes: Buffer, encoding: string): ParseResult {
  const raw = decodeText(bytes, encoding);
  const fail = (error: string): ParseResult => ({ ok: false, error, raw });
  const f = raw.split(',');
  if (f.length < FIXED_FIELDS + 1) {
    return fail(`expected at least ${FIXED_FIELDS + 1} comma-separated fields, got ${f.length}`);
  }
  const plu = /^(P"?)?(\d{5})$/.exec(f[0]);
  if (!plu) return fail(`PLU field "${f[0]}" is not five digits`);
  if (!/^\d\d:\d\d:\d\d$/.test(f[1])) return fail(`time field "${f[1]}" is not HH:MM:SS`);
  if (!/^\d\d\.\d\d\.\d{4}$/.test(f[2])) return fail(`date field "${f[2]}" is not DD.MM.YYYY`);
  const weights: number[] = [];
  for (const [i, name] of [
    [7, 'gross'],
    [8, 'tare'],
    [9, 'net'],
  ] as const) {
    const w = rawWeight(f[i].trim(), name);
    if (typeof w === 'string') return fail(w);
    weights.push(w);
  }
  return {
    ok: true,
    line: {
      pluCode: plu[2],
      resent: plu[1] !== undefined,
      time: f[1],
      date: f[2],
      productName: f[3].trim(),
      barcode: f[4].trim(),
      code: f[5].trim(),
      operator: f[6].trim(),
      grossRaw: weights[0],
      tareRaw: weights[1],
      netRaw: weights[2],
      flags: f.slice(FIXED_FIELDS, f.length - 1),
      company: f[f.length - 1].trim(),
      raw,
    },
  };
}
