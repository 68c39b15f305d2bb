import * as path from 'node:path';
import type { SqliteDatabase } from '../db/database';
import { StoreService, type StoreFigures } from './store-service';
import type { EventStoreSettings } from './settings';
import { RetentionSchedule } from './retention';
import { asRecord } from '../protocol/flow-input';
import { eventAcksFrom, type Received } from '../protocol/wire';

/**
 * A store service as a node runs it, knowing nothing of Node-RED. A node's store may be closed
 * and opened again (after a disk fault, nodes/shared/startup.ts), so what must outlive one
 * StoreService is kept here: the last `cloud_status` (a reopened store would start offline),
 * the totals of /metrics, the last alarm said. And what the node does around each service:
 * its options from the node's settings, its timers (`bind`), and the messages it is handed as
 * they come (`apply`).
 */

/** The messages event-store hands its service as they come: the Cloud's answers and the batch announcements. */
export const SERVICE_TOPICS = ['offline_batch_start', 'offline_batch_end', 'event_ack', 'event_rejected', 'event_acks'] as const;
export type ServiceTopic = (typeof SERVICE_TOPICS)[number];

/** What a store down after a disk fault takes without its database (acks are not written: the events go out again). */
export const TAKEN_WHILE_DOWN: readonly string[] = ['cloud_status', 'event_ack', 'event_acks', 'event_rejected', 'status'];

/** How often the ack timeouts are checked: a quarter of the timeout, at most every 5 s and at least 100 ms apart. */
export function ackCheckEveryMs(ackTimeoutMs: number): number {
  return Math.max(100, Math.min(5000, ackTimeoutMs / 4));
}

/** What the runner asks of the node a service is bound to. */
export interface StoreHooks {
  /** The periodic status report (the node's `store_status`). */
  report(): void;
  /** An error on a timer: nothing leaves a timer as an exception (it would take Node-RED down). */
  onError(err: Error, during: 'ack-timeouts' | 'report' | 'retention'): void;
}

export class StoreRunner {
  private cloudConnected: boolean | null = null;
  private carried: Pick<StoreService, 'totals' | 'ackLatency'> | null = null;
  private lastAlarm = '';

  constructor(
    private readonly settings: EventStoreSettings,
    /** Who runs it (the node's name), for the message a second store on the database gets. */
    private readonly name: string,
  ) {}

  open(db: SqliteDatabase, siteId: string): StoreService {
    const s = this.settings;
    return new StoreService(db, {
      siteId,
      batchSize: s.batchSize,
      window: s.window,
      ackTimeoutMs: s.ackTimeoutS * 1000,
      retentionDays: s.retentionDays,
      minFreeDiskBytes: s.minFreeDiskMB * 2 ** 20,
      maxPendingAgeMs: s.maxPendingAgeMin * 60_000,
      name: this.name,
    });
  }

  /**
   * Carries on from the service before (totals, link state) and starts the service's timers:
   * the ack timeouts, the status report, retention. Returns what stops them.
   */
  bind(svc: StoreService, hooks: StoreHooks): () => void {
    if (this.carried) {
      Object.assign(svc.totals, this.carried.totals);
      Object.assign(svc.ackLatency, this.carried.ackLatency);
    }
    this.carried = svc;
    if (this.cloudConnected !== null) svc.setConnected(this.cloudConnected);
    const guarded = (during: 'ack-timeouts' | 'report', what: () => void) => (): void => {
      try {
        what();
      } catch (err) {
        hooks.onError(err instanceof Error ? err : new Error(String(err)), during);
      }
    };
    const intervals = [
      setInterval(
        guarded('ack-timeouts', () => svc.expireAcks()),
        ackCheckEveryMs(this.settings.ackTimeoutS * 1000),
      ),
      setInterval(guarded('report', hooks.report), this.settings.statusIntervalS * 1000),
    ];
    const retention = new RetentionSchedule({ chunk: () => svc.retentionChunk(), onError: (err) => hooks.onError(err, 'retention') });
    return () => {
      for (const t of intervals) clearInterval(t);
      retention.stop();
    };
  }

  /** The link went up or down: kept for the services opened later, and told to `svc` if there is one. */
  setConnected(connected: boolean, svc: StoreService | null): void {
    this.cloudConnected = connected;
    svc?.setConnected(connected);
  }

  /** The alarms of `fig` in words, when they differ from the last ones said (said once, not on every report). */
  newAlarm(fig: StoreFigures): string | null {
    const alarm = fig.alarms.join('; ');
    const said = alarm !== this.lastAlarm;
    this.lastAlarm = alarm;
    return alarm && said ? alarm : null;
  }

  /**
   * Hands one of SERVICE_TOPICS to the service. Returns the ids of rejections for events the
   * store does not hold, and (for `event_acks`) what was refused of it in one error, after
   * the rest was applied; throws when the one message of the other topics is refused.
   */
  apply(svc: StoreService, topic: ServiceTopic, msg: Received): { unknownRejections: string[]; error: string | null } {
    switch (topic) {
      case 'offline_batch_start':
        svc.batchStart(msg.payload);
        break;
      case 'offline_batch_end':
        svc.batchEnd(msg.payload);
        break;
      case 'event_ack':
        svc.ack(msg.payload);
        break;
      case 'event_rejected':
        if (svc.reject(msg.payload) === 'unknown') return { unknownRejections: [String(asRecord(msg.payload).localEventId)], error: null };
        break;
      case 'event_acks':
        return svc.applyAcks(eventAcksFrom(msg));
    }
    return { unknownRejections: [], error: null };
  }
}

/** Where `backup` writes: msg.payload (or its `path`), a relative one taken from `userDir`; null when there is none. */
export function backupTarget(payload: unknown, userDir: string): string | null {
  const target = typeof payload === 'string' ? payload : asRecord(payload).path;
  return typeof target === 'string' && target ? path.resolve(userDir, target) : null;
}
