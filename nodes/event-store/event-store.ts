import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus } from 'node-red';
import { StoreService, type StoreFigures } from '../../lib/store/store-service';
import { parseEventStoreSettings, EVENT_STORE_DEFAULTS } from '../../lib/store/settings';
import { StoreRunner, SERVICE_TOPICS, TAKEN_WHILE_DOWN, backupTarget } from '../../lib/store/store-runner';
import { isOneOf } from '../../lib/util/one-of';
import { ackMessage, cloudStatusFrom, notStoredMessage, protocolMessage } from '../../lib/protocol/wire';
import { startOnSite, type Started } from '../shared/startup';
import { onInput } from '../shared/input';
import { ThrottledStatus } from '../shared/throttled-status';
import { statusKey } from '../shared/status-text';
import { WarningLimiter } from '../../lib/util/warning-limiter';
import { registerAdminRoutes } from '../shared/admin-routes';

type EventStoreDef = NodeDef & Record<string, unknown> & { site?: string };

export = function register(RED: NodeAPI): void {
  function EventStoreNode(this: Node, config: EventStoreDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    // The status reads the database: at most once a second, however busy the scales are; a
    // fault met there is handled a turn later (`started` is not set while the first bind runs).
    const faultLater = (err: unknown): void => void setImmediate(() => started.fault(err));
    const status = new ThrottledStatus((s) => node.status(s), 1000, faultLater);
    const parsed = parseEventStoreSettings(config);
    const opts = parsed.settings ?? EVENT_STORE_DEFAULTS;
    const runner = new StoreRunner(opts, node.name || node.id); // what outlives a reopen
    const rejections = new WarningLimiter();

    const describe = (svc: StoreService, fig: StoreFigures): NodeStatus => {
      const alarm = fig.alarmCodes[0];
      const text = (key: string, values?: Record<string, number>): string => statusKey(`event-store.status.${key}`, values);
      if (alarm) return { fill: 'red', shape: 'dot', text: text(alarm.code, alarm.code === 'backlog-old' ? { minutes: alarm.minutes } : undefined) };
      if (fig.failed) return { fill: 'yellow', shape: 'dot', text: text('rejected', { count: fig.failed }) };
      if (svc.sender) return { fill: 'yellow', shape: 'ring', text: text('not-sender') };
      if (!fig.cloudConnected) return { fill: 'yellow', shape: 'ring', text: text('offline', { count: fig.pending }) };
      return { fill: 'green', shape: 'dot', text: fig.pending ? text('queued', { count: fig.pending }) : text('all-sent') };
    };
    const report = (): void => {
      const svc = started.part;
      if (!svc) return;
      const fig = svc.figures();
      status.set(describe(svc, fig));
      const alarm = runner.newAlarm(fig);
      if (alarm) node.warn(RED._('event-store.errors.alarm', { alarm }));
      node.send([null, null, { topic: 'store_status', payload: fig }]);
    };
    const showQuick = (svc: StoreService | null): void => {
      if (svc) status.set(() => describe(svc, svc.quickFigures()));
    };

    /** Ties the node to a store service: at start and after every reopen (see startOnSite). */
    const bind = (svc: StoreService, fault: (err: unknown) => boolean): (() => void) => {
      svc.on('cloud', (m) => node.send([protocolMessage(m.topic, m.payload), null, null]));
      svc.on('failed', (info) => {
        // Every rejection goes out on output 3; the log gets one line a minute with the count.
        const line = rejections.offer('rejected', RED._('event-store.errors.rejected', info), performance.now());
        if (line) node.warn(line.message);
        node.send([null, null, { topic: 'event_failed', payload: info }]);
      });
      svc.on('warning', (w) => node.warn(w));
      svc.on('fault', (err) => fault(err));
      if (svc.sender) node.warn(RED._('event-store.errors.not-sender', { sender: svc.sender }));
      const unbind = runner.bind(svc, {
        report,
        onError: (err, during) => {
          if (!fault(err)) node.warn(during === 'retention' ? RED._('event-store.errors.retention', { error: err.message }) : err.message);
        },
      });
      showQuick(svc);
      return unbind;
    };

    const started: Started<StoreService> = startOnSite(RED, node, 'stores', config.site, parsed.errors, {
      open: (lease, site) => runner.open(lease.db, site.siteId),
      resolved: (site) => ({ siteId: site.siteId, databaseFile: site.databaseFile, ...opts }),
      bind,
      close: (svc) => svc.close(),
      status: (st) => status.set(st),
    });
    const flushTimer = setInterval(() => rejections.flush(performance.now()).forEach((l) => node.warn(l.message)), 5000);
    if (!started.part && !started.down) status.set({ fill: 'red', shape: 'ring', text: statusKey('event-store.status.not-running') });

    onInput(
      RED,
      node,
      async (msg, send) => {
        const topic = String(msg.topic ?? '');
        if (topic === 'cloud_status') runner.setConnected(cloudStatusFrom(msg).connected, started.part);
        // From session-cache, when it could not tag an event: on to dp401-in, like our own.
        if (topic === 'not_stored') return send([null, msg as NodeMessage, null]);
        const service = started.part;
        if (!service) {
          if (started.down && TAKEN_WHILE_DOWN.includes(topic)) return;
          const reason = started.down ? RED._('event-store.errors.down', { error: started.down }) : RED._('event-store.errors.not-running');
          if (topic !== 'event') throw new Error(reason);
          // No OK for what is not stored: dp401-in forgets it and the scale's resend is stored as new.
          const nack = notStoredMessage(msg, reason);
          send([null, nack, null]);
          throw new Error(RED._('event-store.errors.not-stored', { id: String(nack.payload.localEventId), reason: started.down ?? reason }));
        }
        if (isOneOf(SERVICE_TOPICS, topic)) {
          const { unknownRejections, error } = runner.apply(service, topic, msg);
          for (const id of unknownRejections) node.warn(RED._('event-store.errors.unknown-event', { topic: 'event_rejected', id }));
          if (error) throw new Error(error);
        } else if (topic === 'event') {
          // Refused: dp401-in forgets it, and the scale's resend is stored (not taken for a duplicate).
          const inserted = await service.submit(msg.payload).catch((err: Error) => {
            send([null, notStoredMessage(msg, err.message), null]);
            throw err;
          });
          send([null, ackMessage(msg, inserted), null]); // committed: now the scale may be told OK
        } else if (topic === 'retry_failed') {
          node.log(RED._('event-store.log.retry', { count: service.retryFailed() }));
        } else if (topic === 'status') {
          return report();
        } else if (topic === 'backup') {
          // A relative path is taken from the Node-RED user directory, as the site database's is.
          const target = backupTarget(msg.payload, (RED.settings as { userDir?: string }).userDir ?? process.cwd());
          if (!target) throw new Error(RED._('event-store.errors.backup-path'));
          send([null, null, { topic: 'backup_done', payload: await service.backup(target) }]);
        } else if (topic !== 'cloud_status') {
          throw new Error(RED._('event-store.errors.unknown-topic', { topic })); // cloud_status: told above
        }
        showQuick(started.part);
      },
      (err) => {
        // A disk fault closes the store and reopens it (startOnSite); the error still goes to Catch nodes.
        started.fault(err);
        showQuick(started.part);
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
