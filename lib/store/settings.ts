import { NumberFields, type FieldError } from '../util/config-fields';

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

export const EVENT_STORE_DEFAULTS: EventStoreSettings = {
  batchSize: 100,
  window: 1000,
  ackTimeoutS: 30,
  retentionDays: 30,
  minFreeDiskMB: 500,
  maxPendingAgeMin: 60,
  statusIntervalS: 10,
};

export function parseEventStoreSettings(raw: object): { settings: EventStoreSettings | null; errors: FieldError[] } {
  const f = new NumberFields(raw, { ...EVENT_STORE_DEFAULTS });
  const settings: EventStoreSettings = {
    batchSize: f.read('batchSize', 1, 10_000),
    window: f.read('window', 1, 100_000),
    ackTimeoutS: f.read('ackTimeoutS', 0.1, 86_400, false),
    retentionDays: f.read('retentionDays', 1, 3650, false),
    minFreeDiskMB: f.read('minFreeDiskMB', 0, 10_000_000, false),
    maxPendingAgeMin: f.read('maxPendingAgeMin', 1, 525_600, false),
    statusIntervalS: f.read('statusIntervalS', 1, 3600, false),
  };
  return { settings: f.errors.length ? null : settings, errors: f.errors };
}
