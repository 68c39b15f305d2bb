import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import { SessionCache, SESSION_TOPICS, type TaggedEvent } from '../../lib/sessions/session-cache';
import { isOneOf } from '../../lib/util/one-of';
import type { BatchMessage } from '../../lib/batches/offline-batches';
import { parseSessionCacheSettings, SHIFT_HOURS } from '../../lib/sessions/settings';
import { startOnSite, type Started } from '../shared/startup';
import { onInput, type Send } from '../shared/input';
import { ThrottledStatus } from '../shared/throttled-status';
import { statusKey } from '../shared/status-text';
import { registerAdminRoutes } from '../shared/admin-routes';
import { LiveView } from '../../lib/util/live-view';
import { cloudConnectedOf, cloudStatusFrom, eventToTagFrom, liveWeightMessage, notStoredMessage, protocolMessage } from '../../lib/protocol/wire';

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
    // A copy, made when it is shown (liveWeightMessage): the event itself is on its way to the store.
    const live = new LiveView<TaggedEvent>(parsed.settings?.liveRate ?? 0, (_device, event) => node.send([null, liveWeightMessage(event)]));
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
      for (const m of messages) send(protocolMessage(m.topic, m.payload));
    };

    onInput<NodeMessageInFlow>(
      RED,
      node,
      (msg, send) => {
        const now = Date.now();
        const topic = String(msg.topic ?? '');
        const connected = topic === 'cloud_status' ? cloudConnectedOf(msg) : null;
        if (connected !== null) cloudReachable = connected;
        const cache = started.part;
        if (!cache) {
          if (started.down && topic === 'cloud_status') return; // kept above for the reopened cache
          // Down (a disk fault) or never started: the event cannot be tagged, so it is not stored
          // (`not_stored` goes on through event-store to dp401-in, which forgets the weighing).
          if (topic === 'event') send(notStoredMessage(msg, `session-cache: ${started.down ?? 'not running'}`));
          throw new Error(started.down ? RED._('session-cache.errors.down', { error: started.down }) : RED._('session-cache.errors.not-running'));
        }
        if (isOneOf(SESSION_TOPICS, topic)) {
          const r = cache.apply(topic, msg.payload, now);
          if (r.error) throw new Error(r.error);
          sendBatches(send, r.messages);
        } else if (topic === 'cloud_status') {
          sendBatches(send, cache.setCloudReachable(cloudStatusFrom(msg).connected, now));
        } else if (topic === 'event') {
          const untagged = eventToTagFrom(msg);
          let tagged: ReturnType<SessionCache['tagEvent']>;
          try {
            tagged = cache.tagEvent(untagged, now);
          } catch (err) {
            // The disk failed under the cache: no OK, and the scale's resend is stored as new.
            send(notStoredMessage(msg, `session-cache: ${(err as Error).message}`));
            throw err;
          }
          const { event, messages, expired } = tagged;
          if (expired) node.warn(RED._('session-cache.errors.expired', { session: expired.cloudSessionId, device: expired.deviceId, hours: expiryHours }));
          sendBatches(send, messages);
          msg.payload = event;
          send(msg);
          live.offer(event.deviceId, event);
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
