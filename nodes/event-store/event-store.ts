import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { StoreService, type StoreFigures } from '../../lib/store/store-service';
import { parseEventStoreSettings, EVENT_STORE_DEFAULTS } from '../../lib/store/settings';
import { RetentionSchedule } from '../../lib/store/retention';
import { startOnSite, type Started } from '../shared/startup';
import { onInput, payloadObject } from '../shared/input';
import { asRecord } from '../../lib/protocol/flow-input';
import { ThrottledStatus } from '../shared/throttled-status';
import { statusKey } from '../shared/status-text';
import { WarningLimiter } from '../../lib/util/warning-limiter';
import { registerAdminRoutes } from '../shared/admin-routes';

type EventStoreDef = NodeDef & Record<string, unknown> & { site?: string };

interface WithSession extends NodeMessageInFlow {
  _session?: unknown;
}

export = function register(RED: NodeAPI): void {
  function EventStoreNode(this: Node, config: EventStoreDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    // The status reads the database: at most once a second, however busy the scales are.
    const status = new ThrottledStatus(
      (s) => node.status(s),
      1000,
      (err) => setImmediate(() => started.fault(err)), // later: `started` is not set while the first bind runs
    );
    const parsed = parseEventStoreSettings(config);
    const opts = parsed.settings ?? EVENT_STORE_DEFAULTS;
    const rejections = new WarningLimiter();
    /** The last cloud_status, given to every part this node opens (a reopened store starts offline otherwise). */
    let cloudConnected: boolean | null = null;
    /** Since the node started, across reopens: a reopened store continues the counters of /metrics. */
    let carried: Pick<StoreService, 'totals' | 'ackLatency'> | null = null;

    const describe = (svc: StoreService, fig: StoreFigures): NodeStatus => {
      const alarm = fig.alarmCodes[0];
      if (alarm)
        return {
          fill: 'red',
          shape: 'dot',
          text: statusKey(`event-store.status.${alarm.code}`, alarm.code === 'backlog-old' ? { minutes: alarm.minutes } : undefined),
        };
      if (fig.failed) return { fill: 'yellow', shape: 'dot', text: statusKey('event-store.status.rejected', { count: fig.failed }) };
      if (svc.sender) return { fill: 'yellow', shape: 'ring', text: statusKey('event-store.status.not-sender') };
      if (!fig.cloudConnected) return { fill: 'yellow', shape: 'ring', text: statusKey('event-store.status.offline', { count: fig.pending }) };
      return {
        fill: 'green',
        shape: 'dot',
        text: fig.pending ? statusKey('event-store.status.queued', { count: fig.pending }) : statusKey('event-store.status.all-sent'),
      };
    };
    let lastAlarm = '';
    const report = (emit: boolean): void => {
      const svc = started.part;
      if (!svc) return;
      const fig = svc.figures();
      status.set(describe(svc, fig));
      const alarm = fig.alarms.join('; ');
      if (alarm && alarm !== lastAlarm) node.warn(RED._('event-store.errors.alarm', { alarm }));
      lastAlarm = alarm;
      if (emit) node.send([null, null, { topic: 'store_status', payload: fig }]);
    };
    const refresh = (): void => {
      const svc = started.part;
      if (svc) status.set(() => describe(svc, svc.figures(true)));
    };

    /** Ties the node to a store service: at start and after every reopen (see startOnSite). */
    const bind = (svc: StoreService, fault: (err: unknown) => boolean): (() => void) => {
      if (carried) {
        Object.assign(svc.totals, carried.totals);
        Object.assign(svc.ackLatency, carried.ackLatency);
      }
      carried = svc;
      svc.on('cloud', (m) => node.send([{ topic: m.topic, payload: m.payload } as NodeMessage, null, null]));
      svc.on('failed', (info) => {
        // Every rejection goes out on output 3; the log gets one line a minute with the count.
        const line = rejections.offer('rejected', RED._('event-store.errors.rejected', info), performance.now());
        if (line) node.warn(line.message);
        node.send([null, null, { topic: 'event_failed', payload: info }]);
      });
      svc.on('warning', (w) => node.warn(w));
      svc.on('fault', (err) => fault(err));
      if (svc.sender) node.warn(RED._('event-store.errors.not-sender', { sender: svc.sender }));
      if (cloudConnected !== null) svc.setConnected(cloudConnected);
      // Every timer guards itself: what it throws would take Node-RED down.
      const guarded = (what: () => void) => (): void => {
        try {
          what();
        } catch (err) {
          if (!fault(err)) node.warn((err as Error).message);
        }
      };
      const timers = [
        setInterval(
          guarded(() => svc.expireAcks()),
          Math.max(100, Math.min(5000, (opts.ackTimeoutS * 1000) / 4)),
        ),
        setInterval(
          guarded(() => report(true)),
          opts.statusIntervalS * 1000,
        ),
      ];
      const retention = new RetentionSchedule({
        chunk: () => svc.retentionChunk(),
        onError: (err) => {
          if (!fault(err)) node.warn(RED._('event-store.errors.retention', { error: err.message }));
        },
      });
      status.set(() => describe(svc, svc.figures(true))); // not refresh(): `started` is not set during the first bind
      return () => {
        for (const t of timers) clearInterval(t);
        retention.stop();
      };
    };

    const started: Started<StoreService> = startOnSite(RED, node, 'stores', config.site, parsed.errors, {
      open: (lease, site) =>
        new StoreService(lease.db, {
          siteId: site.siteId,
          batchSize: opts.batchSize,
          window: opts.window,
          ackTimeoutMs: opts.ackTimeoutS * 1000,
          retentionDays: opts.retentionDays,
          minFreeDiskBytes: opts.minFreeDiskMB * 2 ** 20,
          maxPendingAgeMs: opts.maxPendingAgeMin * 60_000,
          name: node.name || node.id,
        }),
      resolved: (site) => ({ siteId: site.siteId, databaseFile: site.databaseFile, ...opts }),
      bind,
      close: (svc) => svc.close(),
      status: (st) => status.set(st),
    });
    const flushTimer = setInterval(() => rejections.flush(performance.now()).forEach((l) => node.warn(l.message)), 5000);
    if (!started.part && !started.down) status.set({ fill: 'red', shape: 'ring', text: statusKey('event-store.status.not-running') });

    onInput<WithSession>(
      node,
      async (msg, send) => {
        const topic = String(msg.topic ?? '');
        const payload = payloadObject(msg);
        if (topic === 'cloud_status') {
          if (typeof payload.connected !== 'boolean') throw new Error(RED._('event-store.errors.cloud-status'));
          cloudConnected = payload.connected; // kept for the part a reopen makes
        }
        if (topic === 'not_stored') {
          // From session-cache, when it could not tag an event: on to dp401-in, like our own.
          send([null, msg as NodeMessage, null]);
          return;
        }
        const service = started.part;
        if (!service) {
          // Down after a disk fault: what is kept in memory is enough; acks are not written (the
          // events stay pending and go out again, the Cloud answers them as duplicates).
          if (started.down && ['cloud_status', 'event_ack', 'event_acks', 'event_rejected', 'status'].includes(topic)) return;
          const reason = started.down ? RED._('event-store.errors.down', { error: started.down }) : RED._('event-store.errors.not-running');
          if (topic === 'event') {
            // No OK for what is not stored: dp401-in forgets it and the scale's resend is stored as new.
            const nack: Record<string, unknown> = {
              topic: 'not_stored',
              payload: { localEventId: payload.localEventId, deviceId: payload.deviceId, error: reason },
            };
            if (msg._session) nack._session = msg._session;
            send([null, nack as NodeMessage, null]);
            throw new Error(RED._('event-store.errors.not-stored', { id: String(payload.localEventId), reason: started.down ?? reason }));
          }
          throw new Error(reason);
        }
        switch (topic) {
          case 'event': {
            let inserted: boolean;
            try {
              inserted = await service.submit(msg.payload);
            } catch (err) {
              // Tell dp401-in, so it forgets the weighing: the scale's resend is then stored as
              // new instead of being answered as a duplicate of something never stored.
              const nack: Record<string, unknown> = {
                topic: 'not_stored',
                payload: { localEventId: payload.localEventId, deviceId: payload.deviceId, error: (err as Error).message },
              };
              if (msg._session) nack._session = msg._session;
              send([null, nack as NodeMessage, null]);
              throw err;
            }
            // Committed: now the scale may be told OK.
            const ack: Record<string, unknown> = { topic: 'ack', payload: { localEventId: payload.localEventId, deviceId: payload.deviceId, inserted } };
            if (msg._session) ack._session = msg._session;
            send([null, ack as NodeMessage, null]);
            break;
          }
          case 'offline_batch_start':
            service.batchStart(payload);
            break;
          case 'offline_batch_end':
            service.batchEnd(payload);
            break;
          case 'event_ack':
            service.ack(payload);
            break;
          case 'event_acks': {
            // cloud-link's grouped acks: each one applied as if it came alone; a bad one does not
            // hold the others back and is named in one error.
            const list = (key: 'acks' | 'rejected'): unknown[] => (Array.isArray(payload[key]) ? (payload[key] as unknown[]) : []);
            if (!Array.isArray(payload.acks) && !Array.isArray(payload.rejected)) throw new Error(RED._('event-store.errors.event-acks'));
            const bad: string[] = [];
            const each = (items: unknown[], apply: (p: unknown) => unknown): void => {
              for (const item of items) {
                try {
                  apply(item);
                } catch (err) {
                  bad.push((err as Error).message);
                }
              }
            };
            each(list('acks'), (a) => service.ack(a));
            each(list('rejected'), (r) => {
              if (service.reject(r) === 'unknown')
                node.warn(RED._('event-store.errors.unknown-event', { topic: 'event_rejected', id: String(asRecord(r).localEventId) }));
            });
            if (bad.length) throw new Error(`event_acks: ${bad.length} item(s) refused: ${bad.slice(0, 3).join('; ')}`);
            break;
          }
          case 'event_rejected':
            if (service.reject(payload) === 'unknown') node.warn(RED._('event-store.errors.unknown-event', { topic, id: String(payload.localEventId) }));
            break;
          case 'retry_failed':
            node.log(RED._('event-store.log.retry', { count: service.retryFailed() }));
            break;
          case 'cloud_status':
            service.setConnected(payload.connected as boolean);
            break;
          case 'status':
            report(true);
            return;
          case 'backup': {
            const target = typeof msg.payload === 'string' ? msg.payload : payload.path;
            if (typeof target !== 'string' || !target) throw new Error(RED._('event-store.errors.backup-path'));
            // A relative path is taken from the Node-RED user directory, as the site database's is.
            const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
            const done = await service.backup(path.resolve(userDir, target));
            send([null, null, { topic: 'backup_done', payload: done }]);
            break;
          }
          default:
            throw new Error(RED._('event-store.errors.unknown-topic', { topic }));
        }
        refresh();
      },
      (err) => {
        // A disk fault closes the store and reopens it (startOnSite); the error still goes to Catch nodes.
        started.fault(err);
        refresh();
      },
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      status.stop();
      clearInterval(flushTimer);
      for (const l of rejections.flush(Infinity)) node.warn(l.message); // what was still being counted
      // Node-RED delivers each message on a later turn of the event loop. Waiting one turn lets
      // the acks and events already on their way here arrive; close() then writes them all
      // before the database closes, so a redeploy does not make the Cloud see them again.
      setImmediate(() => {
        try {
          started.part?.close();
        } catch (err) {
          node.error((err as Error).message);
        } finally {
          started.release();
          done();
        }
      });
    });
  }

  RED.nodes.registerType('event-store', EventStoreNode);
  registerAdminRoutes(RED);
};
