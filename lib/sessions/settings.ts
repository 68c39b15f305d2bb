import type { FieldError } from '../util/config-fields';
import { SESSION_CACHE_SETTINGS } from '../settings/node-fields';
import { SettingReader } from '../settings/setting-reader';

export interface SessionCacheSettings {
  expiryHours: number;
  /** Tagged events a second on the live output (for watching, not storing); 0 = none. */
  liveRate: number;
}

/** A working shift: an expiry below this is allowed but said out loud. */
export const SHIFT_HOURS = 8;

export function parseSessionCacheSettings(raw: object): { settings: SessionCacheSettings | null; errors: FieldError[] } {
  const f = new SettingReader(raw, SESSION_CACHE_SETTINGS);
  const expiryHours = f.number('expiryHours');
  const liveRate = f.number('liveRate');
  return { settings: f.errors.length ? null : { expiryHours, liveRate }, errors: f.errors };
}
