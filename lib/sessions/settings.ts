import { NumberFields, type FieldError } from '../util/config-fields';

export interface SessionCacheSettings {
  expiryHours: number;
  /** Tagged events a second on the live output (for watching, not storing); 0 = none. */
  liveRate: number;
}

/** A working shift: an expiry below this is allowed but said out loud. */
export const SHIFT_HOURS = 8;

export function parseSessionCacheSettings(raw: object): { settings: SessionCacheSettings | null; errors: FieldError[] } {
  const f = new NumberFields(raw, { expiryHours: 12, liveRate: 20 });
  const expiryHours = f.read('expiryHours', 0.01, 24 * 30, false);
  const liveRate = f.read('liveRate', 0, 1000, false);
  return { settings: f.errors.length ? null : { expiryHours, liveRate }, errors: f.errors };
}
