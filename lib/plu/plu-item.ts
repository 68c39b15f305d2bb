import type { PluItem } from './plu-format';
import { asRecord } from '../protocol/flow-input';
import { WireError } from '../protocol/wire';

/**
 * The PLU messages as they come from cloud-link's output 1 (or a flow), read once. A PLU item
 * as the Cloud sends it (`plu_updated`, the items of `plu_catalog`) turned into
 * a PluItem. Field checks that depend on the file format are formatPluLine's; this only
 * reads the message, naming the field it cannot read.
 */
export function toPluItem(p: unknown): { item?: PluItem; error?: string } {
  if (!p || typeof p !== 'object' || Array.isArray(p)) return { error: 'a PLU item must be an object' };
  const o = p as Record<string, unknown>;
  const code = typeof o.pluCode === 'string' && /^\d{1,5}$/.test(o.pluCode) ? Number(o.pluCode) : o.pluCode;
  const label = `PLU ${String(o.pluCode)}`;
  if (typeof code !== 'number' || !Number.isInteger(code)) return { error: `${label}: pluCode must be a number from 1 to 99999` };
  const num = (field: string): number | undefined | string => {
    const v = o[field];
    if (v === undefined || v === null || v === '') return undefined;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    return typeof n === 'number' && Number.isFinite(n) ? n : `${label}: ${field} must be a number`;
  };
  const str = (field: string): string | undefined | { error: string } => {
    const v = o[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' && field === 'barcode') return String(v);
    return typeof v === 'string' ? v : { error: `${label}: ${field} must be text` };
  };
  if (typeof o.name !== 'string') return { error: `${label}: name must be text` };
  const item: PluItem = { pluCode: code, name: o.name, price: 0 };
  for (const f of ['price', 'department', 'tareGrams', 'labelType'] as const) {
    const v = num(f);
    if (typeof v === 'string') return { error: v };
    if (f === 'price') {
      if (v === undefined) return { error: `${label}: price is missing` };
      item.price = v;
    } else if (v !== undefined) item[f] = v;
  }
  for (const f of ['barcode', 'lot', 'date1', 'date2'] as const) {
    const v = str(f);
    if (v && typeof v === 'object') return { error: v.error };
    if (v !== undefined) item[f] = v;
  }
  if (o.unitType !== undefined) {
    if (o.unitType !== 'kg' && o.unitType !== 'piece') return { error: `${label}: unitType must be "kg" or "piece"` };
    item.unitType = o.unitType;
  }
  if (o.extra !== undefined) {
    if (!o.extra || typeof o.extra !== 'object' || Array.isArray(o.extra)) return { error: `${label}: extra must be an object of text fields` };
    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.extra as Record<string, unknown>)) {
      if (typeof v !== 'string') return { error: `${label}: extra.${k} must be text` };
      extra[k] = v;
    }
    item.extra = extra;
  }
  return { item };
}

/** `plu_deleted`: the PLU to take out (msg.payload.pluCode, or the payload itself as a number). */
export function pluCodeToDelete(payload: unknown): number {
  const code = Number(asRecord(payload).pluCode ?? payload);
  if (!Number.isInteger(code)) throw new WireError('delete', 'plu_deleted needs msg.payload.pluCode');
  return code;
}

/** `plu_catalog`: its items, each still to be read with toPluItem. */
export function catalogItemsFrom(payload: unknown): unknown[] {
  const items = asRecord(payload).items;
  if (!Array.isArray(items)) throw new WireError('catalog', 'plu_catalog needs msg.payload.items (an array)');
  return items as unknown[];
}
