import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StoreServiceOptions } from '../../lib/store/store-service';

/** A fresh temp directory per test, removed afterwards. */
export function tempDirs(): { make(prefix?: string): string; cleanup(): void } {
  const made: string[] = [];
  return {
    make(prefix = 'carnitrack-') {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      made.push(d);
      return d;
    },
    cleanup() {
      for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    },
  };
}

let n = 0;
/** A tagged event as session-cache would pass it on. */
export function taggedEvent(over: Record<string, unknown> = {}): {
  localEventId: string;
  deviceId: string;
  weightGrams: number;
  receivedAt: string;
  [k: string]: unknown;
} {
  n++;
  return {
    localEventId: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`,
    deviceId: 'SCALE-01',
    pluCode: '00001',
    productName: 'KIYMA',
    weightGrams: 1000 + n,
    receivedAt: new Date().toISOString(),
    cloudSessionId: null,
    offlineBatchId: null,
    offlineMode: false,
    raw: `00001,raw line ${n}`,
    ...over,
  };
}

/** A StoreService's options as the tests use them (the node's defaults, no disk alarm), with changes. */
export function storeOptions<T extends object>(over: T = {} as T): StoreServiceOptions & T {
  return {
    siteId: 'SITE01',
    batchSize: 100,
    window: 1000,
    ackTimeoutMs: 30_000,
    retentionDays: 30,
    minFreeDiskBytes: 0,
    maxPendingAgeMs: 3_600_000,
    ...over,
  };
}
