import * as path from 'node:path';
import { fieldText, type FieldError } from '../util/config-fields';
import { CARNITRACK_SITE_SETTINGS } from '../settings/node-fields';
import { SettingReader } from '../settings/setting-reader';
import type { Durability } from '../db/database';

export interface SiteSettings {
  siteId: string;
  siteName: string;
  /** Absolute path of the site database. */
  databaseFile: string;
  durability: Durability;
}

export const SITE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * A carnitrack-site config node's fields (after `${EDGE_SITE_ID}` etc. substitution).
 * A relative database path is relative to the Node-RED user directory, so it means the
 * same file whichever directory Node-RED was started from.
 */
export function parseSiteSettings(
  raw: { siteId?: unknown; siteName?: unknown; databasePath?: unknown; durability?: unknown },
  userDir: string,
): { settings?: SiteSettings; errors: FieldError[]; usedDefaultSiteId: boolean } {
  const f = new SettingReader(raw, CARNITRACK_SITE_SETTINGS);
  const errors = f.errors;
  const siteId = f.text('siteId');
  if (!SITE_ID_PATTERN.test(siteId)) errors.push({ field: 'siteId', message: `siteId "${siteId}" may hold only letters, digits, . _ - (at most 64)` });
  const siteName = f.text('siteName', siteId);
  const dbPath = f.text('databasePath');
  const durability = f.choice('durability');
  const usedDefaultSiteId = fieldText(raw.siteId, '') === '';
  if (errors.length) return { errors, usedDefaultSiteId };
  return {
    errors,
    usedDefaultSiteId,
    settings: { siteId, siteName, databaseFile: path.resolve(userDir, dbPath), durability },
  };
}
