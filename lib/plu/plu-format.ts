import { decodeText, encodeText } from '../dp401/weighing-line';

/**
 * The DP-401's `plu.txt`: one line per PLU, Windows-1254, every field padded to a fixed
 * width and followed by `~`, CRLF line ends (shared/DP401.md section 5):
 *
 *   PLU 5 ~ name 16 ~ department 3 ~ barcode 12 ~ lot 10 ~ unit price 5 (kuruş) ~
 *   date 1 8 (YYYYMMDD) ~ date 2 8 ~ label type 2 ~ unit 2 (01 kg, 00 piece) ~ tare 4 ~
 *
 * then the vendor's trailing fields, whose widths are not known: they come from a template
 * (`name:width` entries separated by `~`), filled from the item's `extra` fields.
 */

export interface PluItem {
  pluCode: number;
  name: string;
  price: number;
  barcode?: string;
  department?: number;
  unitType?: 'kg' | 'piece';
  tareGrams?: number;
  lot?: string;
  date1?: string | null;
  date2?: string | null;
  labelType?: number;
  extra?: Record<string, string>;
}

export interface TemplateField {
  name: string;
  width: number;
}

export interface FormatOptions {
  encoding: string;
  truncateNames: boolean;
  template: TemplateField[];
}

export const NAME_WIDTH = 16;
const SEPARATOR = '~';

/** `text1:40~flag:1` -> fields; an empty template means the short format. */
export function parseTemplate(text: string): { fields: TemplateField[]; error?: string } {
  const fields: TemplateField[] = [];
  for (const part of text
    .split(SEPARATOR)
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z][A-Za-z0-9_]{0,31}):(\d{1,4})$/.exec(part);
    if (!m || Number(m[2]) < 1) return { fields, error: `template entry "${part}" is not name:width (width 1 to 9999)` };
    fields.push({ name: m[1], width: Number(m[2]) });
  }
  return { fields };
}

/** Characters the encoding cannot hold, each as `"ä" (U+00E4)`. */
export function unencodable(text: string, encoding: string): string[] {
  const bad: string[] = [];
  for (const ch of new Set(text)) {
    if (decodeText(encodeText(ch, encoding), encoding) !== ch) {
      bad.push(`"${ch}" (U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`);
    }
  }
  return bad;
}

const digitsField = (v: number, width: number): string => String(v).padStart(width, '0');
const textField = (v: string, width: number): string => v.padEnd(width, ' ');

/** `2026-01-30`, `20260130` or empty -> `20260130` / `00000000`; null when not a date. */
function dateField(v: string | null | undefined): string | null {
  if (v === undefined || v === null || v === '') return '00000000';
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(v);
  if (!m) return null;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (d.getUTCDate() !== Number(m[3]) || d.getUTCMonth() !== Number(m[2]) - 1) return null;
  return `${m[1]}${m[2]}${m[3]}`;
}

export type FormatResult = { ok: true; line: Buffer } | { ok: false; error: string };

/**
 * One item as one line (with CRLF), or the reason it cannot be written, naming the PLU
 * and the field. Never a half line: the whole line is checked before anything is returned.
 */
export function formatPluLine(item: PluItem, o: FormatOptions): FormatResult {
  const plu = item.pluCode;
  const fail = (field: string, why: string): FormatResult => ({ ok: false, error: `PLU ${plu}: ${field} ${why}` });
  if (!Number.isInteger(plu) || plu < 1 || plu > 99999) return { ok: false, error: `PLU ${String(plu)}: pluCode must be a whole number from 1 to 99999` };

  const textChecks: Array<[string, string]> = [
    ['name', item.name],
    ['lot', item.lot ?? ''],
  ];
  for (const [k, v] of Object.entries(item.extra ?? {})) textChecks.push([`extra.${k}`, v]);
  for (const [field, value] of textChecks) {
    if (typeof value !== 'string') return fail(field, 'must be text');
    if (value.includes(SEPARATOR) || /[\r\n]/.test(value)) return fail(field, `must not contain "~" or a line break`);
    const bad = unencodable(value, o.encoding);
    if (bad.length) return fail(field, `has characters ${o.encoding} cannot hold: ${bad.join(', ')}`);
  }

  let name = item.name;
  if (encodeText(name, o.encoding).length > NAME_WIDTH) {
    if (!o.truncateNames) return fail('name', `"${name}" is longer than ${NAME_WIDTH} characters (turn on "truncate names" to cut it)`);
    name = name.slice(0, NAME_WIDTH);
  }
  const department = item.department ?? 0;
  if (!Number.isInteger(department) || department < 0 || department > 999) return fail('department', 'must be a whole number from 0 to 999');
  const barcode = item.barcode ?? '';
  if (!/^\d{0,12}$/.test(barcode)) return fail('barcode', `"${barcode}" must be at most 12 digits`);
  const lot = item.lot ?? '';
  if (lot.length > 10) return fail('lot', `"${lot}" is longer than 10 characters`);
  if (!Number.isInteger(item.price) || item.price < 0 || item.price > 99999)
    return fail('price', `${item.price} must be a whole number of kuruş from 0 to 99999`);
  const date1 = dateField(item.date1);
  if (date1 === null) return fail('date1', `"${item.date1}" is not a date (YYYY-MM-DD)`);
  const date2 = dateField(item.date2);
  if (date2 === null) return fail('date2', `"${item.date2}" is not a date (YYYY-MM-DD)`);
  const labelType = item.labelType ?? 1;
  if (!Number.isInteger(labelType) || labelType < 0 || labelType > 99) return fail('labelType', 'must be a whole number from 0 to 99');
  const unitType = item.unitType ?? 'kg';
  if (unitType !== 'kg' && unitType !== 'piece') return fail('unitType', `"${String(unitType)}" must be "kg" or "piece"`);
  const tare = item.tareGrams ?? 0;
  if (!Number.isInteger(tare) || tare < 0 || tare > 9999) return fail('tareGrams', `${tare} must be a whole number from 0 to 9999`);

  const fields = [
    digitsField(plu, 5),
    textField(name, NAME_WIDTH),
    digitsField(department, 3),
    barcode.padStart(12, '0'),
    textField(lot, 10),
    digitsField(item.price, 5),
    date1,
    date2,
    digitsField(labelType, 2),
    unitType === 'kg' ? '01' : '00',
    digitsField(tare, 4),
  ];
  for (const t of o.template) {
    const v = item.extra?.[t.name] ?? '';
    if (encodeText(v, o.encoding).length > t.width) return fail(`extra.${t.name}`, `"${v}" is longer than its template width ${t.width}`);
    fields.push(textField(v, t.width));
  }
  return { ok: true, line: encodeText(fields.map((f) => f + SEPARATOR).join('') + '\r\n', o.encoding) };
}

/** The whole file: items sorted by PLU; invalid items left out and reported. */
export function formatPluFile(items: PluItem[], o: FormatOptions): { bytes: Buffer; count: number; errors: string[] } {
  const lines: Buffer[] = [];
  const errors: string[] = [];
  for (const item of [...items].sort((a, b) => a.pluCode - b.pluCode)) {
    const r = formatPluLine(item, o);
    if (r.ok) lines.push(r.line);
    else errors.push(r.error);
  }
  return { bytes: Buffer.concat(lines), count: lines.length, errors };
}

/** Reads a plu.txt back (for tests and for checking a file a scale was given). */
export function parsePluFile(bytes: Buffer, o: Pick<FormatOptions, 'encoding' | 'template'>): PluItem[] {
  const text = decodeText(bytes, o.encoding);
  const out: PluItem[] = [];
  for (const line of text.split('\r\n')) {
    if (!line) continue;
    const f = line.split(SEPARATOR);
    const date = (s: string): string | null => (s === '00000000' ? null : `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`);
    const item: PluItem = {
      pluCode: Number(f[0]),
      name: f[1].trimEnd(),
      department: Number(f[2]),
      barcode: f[3],
      lot: f[4].trimEnd(),
      price: Number(f[5]),
      date1: date(f[6]),
      date2: date(f[7]),
      labelType: Number(f[8]),
      unitType: f[9] === '01' ? 'kg' : 'piece',
      tareGrams: Number(f[10]),
    };
    if (o.template.length) item.extra = Object.fromEntries(o.template.map((t, i) => [t.name, f[11 + i].trimEnd()]));
    out.push(item);
  }
  return out;
}
