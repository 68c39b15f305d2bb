import type { FieldError } from '../util/config-fields';
import { EVENT_STORE_SETTINGS } from '../settings/node-fields';
import { SettingReader } from '../settings/setting-reader';

/** event-store's settings as typed in the editor (numbers of seconds, minutes, MiB). */
export interface EventStoreSettings {
  batchSize: number;
  window: number;
  ackTimeoutS: number;
  retentionDays: number;
  minFreeDiskMB: number;
  maxPendingAgeMin: number;
  statusIntervalS: number;
}

/** The defaults, from the one source of each setting (lib/settings/node-fields.ts). */
export const EVENT_STORE_DEFAULTS: EventStoreSettings = {
  batchSize: EVENT_STORE_SETTINGS.batchSize.default,
  window: EVENT_STORE_SETTINGS.window.default,
  ackTimeoutS: EVENT_STORE_SETTINGS.ackTimeoutS.default,
  retentionDays: EVENT_STORE_SETTINGS.retentionDays.default,
  minFreeDiskMB: EVENT_STORE_SETTINGS.minFreeDiskMB.default,
  maxPendingAgeMin: EVENT_STORE_SETTINGS.maxPendingAgeMin.default,
  statusIntervalS: EVENT_STORE_SETTINGS.statusIntervalS.default,
};

export function parseEventStoreSettings(raw: object): { settings: EventStoreSettings | null; errors: FieldError[] } {
  const f = new SettingReader(raw, EVENT_STORE_SETTINGS);
  const settings: EventStoreSettings = {
    batchSize: f.number('batchSize'),
    window: f.number('window'),
    ackTimeoutS: f.number('ackTimeoutS'),
    retentionDays: f.number('retentionDays'),
    minFreeDiskMB: f.number('minFreeDiskMB'),
    maxPendingAgeMin: f.number('maxPendingAgeMin'),
    statusIntervalS: f.number('statusIntervalS'),
  };
  return { settings: f.errors.length ? null : settings, errors: f.errors };
}
