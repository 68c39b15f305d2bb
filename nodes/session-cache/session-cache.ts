import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import { SessionCache, SESSION_TOPICS, type SessionTopic } from '../../lib/sessions/session-cache';
import type { BatchMessage } from '../../lib/batches/offline-batches';
import { parseSessionCacheSettings, SHIFT_HOURS } from '../../lib/sessions/settings';
import { startOnSite, type Started } from '../shared/startup';
import { onInput, payloadObject, type Send } from '../shared/input';
import { ThrottledStatus } from '../shared/throttled-status';
import { statusKey } from '../shared/status-text';
import { registerAdminRoutes } from '../shared/admin-routes';
import { merged } from '../../lib/util/merged';
import { LiveView } from '../../lib/util/live-view';

type SessionCacheDef = NodeDef & { site?: string; expiryHours?: string | number; liveRate?: string | number };

const HOUR = 3_600_000;

export = function register(RED: NodeAPI): void {
  function SessionCacheNode(this: Node, config: SessionCacheDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new ThrottledStatus(
      (s) => node.status(s),
      250,
      (err) => setImmediate(() => started.fault(err)), // later: `started` is not set while the first bind runs
    );
    const parsed = parseSessionCacheSettings(config);
    const expiryHours = parsed.settings?.expiryHours ?? 0;
    // Output 2, for people watching: a sample of the tagged events, never a queue of them.
    // The latest weighing of every scale, at most liveRate a second in all (lib/util/live-view.ts).
    // A copy, made when it is shown: the event itself is on its way to the store.
    const live = new LiveView<Record<string, unknown>>(parsed.settings?.liveRate ?? 0, (_device, payload) =>
      node.send([null, { topic: 'live_weight', payload: structuredClone(payload) }]),
    );
    /** The last cloud_status: a cache opened again after a disk fault starts from it. */
    let cloudReachable = false;
    const statusOf = (cache: SessionCache): NodeStatus => {
      if (cache.isCloudReachable)
        return { fill: 'green', shape: 'dot', text: statusKey('session-cache.status.sessions', { count: cache.sessions(Date.now()).length }) };
      return { fill: 'yellow', shape: 'ring', text: statusKey('session-cache.status.offline', { count: cache.openBatches().length }) };
    };
    const started: Started<SessionCache> = startOnSite(RED, node, 'caches', config.site, parsed.errors, {
      open: (lease, site) => new SessionCache(lease.db, { siteId: site.siteId, expiryMs: expiryHours * HOUR, cloudReachable }),
      resolved: (site) => ({ siteId: site.siteId, expiryHours, liveRate: live.perSecond }),
      // Nothing of the cache's own to tie: every use goes through started.part. The status is computed later, on the status timer.
      bind: (cache) => {
        status.set(() => statusOf(cache));
        return () => undefined;
      },
      status: (s) => status.set(s),
    });
    if (started.part && expiryHours < SHIFT_HOURS) node.warn(RED._('session-cache.errors.short-expiry', { hours: expiryHours, shift: SHIFT_HOURS }));

    const showStatus = (): void => {
      const cache = started.part;
      if (!cache) {
        if (!started.down) status.set({ fill: 'red', shape: 'ring', text: statusKey('session-cache.status.not-running') });
        return;
      }
      status.set(() => statusOf(cache));
    };

    const sendBatches = (send: Send, messages: BatchMessage[]): void => {
      for (const m of messages) send({ topic: m.topic, payload: m.payload });
    };

    /**
     * An event that cannot be tagged is not stored: `not_stored` goes on to event-store, which
     * passes it to dp401-in, which forgets the weighing. No OK; the scale keeps it, and its
     * resend is stored as new once the disk answers again (not taken for a duplicate).
     */
    const refuse = (msg: NodeMessageInFlow, send: Send, error: string): void => {
      const event = payloadObject(msg);
      const nack: Record<string, unknown> = { topic: 'not_stored', payload: { localEventId: event.localEventId, deviceId: event.deviceId, error } };
      const session = (msg as { _session?: unknown })._session;
      if (session) nack._session = session;
      send(nack as NodeMessageInFlow);
    };

    onInput<NodeMessageInFlow>(
      node,
      (msg, send) => {
        const now = Date.now();
        const topic = String(msg.topic ?? '');
        if (topic === 'cloud_status' && typeof payloadObject(msg).connected === 'boolean') cloudReachable = payloadObject(msg).connected as boolean;
        const cache = started.part;
        if (!cache) {
          if (started.down && topic === 'cloud_status') return; // kept above for the reopened cache
          // Down (a disk fault) or never started: the event cannot be tagged, so it is not stored.
          if (topic === 'event') refuse(msg, send, `session-cache: ${started.down ?? 'not running'}`);
          throw new Error(started.down ? RED._('session-cache.errors.down', { error: started.down }) : RED._('session-cache.errors.not-running'));
        }
        if ((SESSION_TOPICS as readonly string[]).includes(topic)) {
          const r = cache.apply(topic as SessionTopic, msg.payload, now);
          if (r.error) throw new Error(r.error);
          sendBatches(send, r.messages);
        } else if (topic === 'cloud_status') {
          const connected = payloadObject(msg).connected;
          if (typeof connected !== 'boolean') throw new Error(RED._('session-cache.errors.cloud-status'));
          sendBatches(send, cache.setCloudReachable(connected, now));
        } else if (topic === 'event') {
          const event = payloadObject(msg);
          if (typeof event.deviceId !== 'string' || !event.deviceId) throw new Error(RED._('session-cache.errors.event-device'));
          let tagged: ReturnType<SessionCache['tag']>;
          try {
            tagged = cache.tag(event.deviceId, now);
          } catch (err) {
            refuse(msg, send, `session-cache: ${(err as Error).message}`);
            throw err;
          }
          const { tags, messages, expired } = tagged;
          if (expired) {
            node.warn(RED._('session-cache.errors.expired', { session: expired.cloudSessionId, device: expired.deviceId, hours: expiryHours }));
          }
          sendBatches(send, messages);
          msg.payload = merged(event, tags);
          send(msg);
          live.offer(event.deviceId, msg.payload as Record<string, unknown>);
        } else {
          throw new Error(RED._('session-cache.errors.unknown-topic', { topic }));
        }
        showStatus();
      },
      (err) => {
        started.fault(err); // a disk fault closes the cache and reopens it
        showStatus();
      },
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      status.stop();
      live.close();
      try {
        started.release();
      } finally {
        done();
      }
    });

    showStatus();
  }

  RED.nodes.registerType('session-cache', SessionCacheNode);
  registerAdminRoutes(RED);
};
