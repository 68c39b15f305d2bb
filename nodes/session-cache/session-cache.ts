import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { SessionCache, SESSION_TOPICS, type SessionTopic, type BatchMessage } from '../../lib/sessions/session-cache';
import { NumberFields } from '../../lib/util/config-fields';
import type { Lease } from '../../lib/db/database-pool';
import { siteOf } from '../shared/site-node';
import { onInput, payloadObject, type Send } from '../shared/input';
import { ThrottledStatus } from '../shared/throttled-status';
import { statusKey } from '../shared/status-text';
import { track, trackBroken } from '../shared/live-registry';
import { registerAdminRoutes } from '../shared/admin-routes';

type SessionCacheDef = NodeDef & { site?: string; expiryHours?: string | number };

const HOUR = 3_600_000;
/** A working shift: an expiry below this is allowed but said out loud. */
const SHIFT_HOURS = 8;

export = function register(RED: NodeAPI): void {
  function SessionCacheNode(this: Node, config: SessionCacheDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new ThrottledStatus((s) => node.status(s), 250);
    const fields = new NumberFields(config, { expiryHours: 12 });
    const expiryHours = fields.read('expiryHours', 0.01, 24 * 30, false);
    const site = siteOf(RED, config.site);
    let lease: Lease | null = null;
    let cache: SessionCache | null = null;
    let notRunning = '';

    const problem = typeof site === 'string' ? site : fields.errors.map((e) => e.message).join('; ') || null;
    if (!problem && typeof site !== 'string') {
      try {
        lease = site.lease();
        cache = new SessionCache(lease.db, { siteId: site.site!.siteId, expiryMs: expiryHours * HOUR });
      } catch (err) {
        notRunning = RED._('session-cache.errors.database', { error: (err as Error).message });
        node.error(notRunning);
      }
    } else {
      notRunning = RED._('session-cache.errors.invalid', { problem: String(problem) });
      node.error(notRunning);
    }
    const untrack = cache ? track('caches', node, cache, { siteId: typeof site !== 'string' ? site.site!.siteId : null, expiryHours }) : trackBroken(node, notRunning);
    if (cache && expiryHours < SHIFT_HOURS) node.warn(RED._('session-cache.errors.short-expiry', { hours: expiryHours, shift: SHIFT_HOURS }));

    const showStatus = (): void => {
      if (!cache) return status.set({ fill: 'red', shape: 'ring', text: statusKey('session-cache.status.not-running') });
      status.set(() => {
        if (cache!.isCloudReachable) return { fill: 'green', shape: 'dot', text: statusKey('session-cache.status.sessions', { count: cache!.sessions(Date.now()).length }) };
        return { fill: 'yellow', shape: 'ring', text: statusKey('session-cache.status.offline', { count: cache!.openBatches().length }) };
      });
    };

    const sendBatches = (send: Send, messages: BatchMessage[]): void => {
      for (const m of messages) send({ topic: m.topic, payload: m.payload });
    };

    onInput<NodeMessageInFlow>(
      node,
      (msg, send) => {
        if (!cache) throw new Error(RED._('session-cache.errors.not-running'));
        const now = Date.now();
        const topic = String(msg.topic ?? '');
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
          const { tags, messages, expired } = cache.tag(event.deviceId, now);
          if (expired) {
            node.warn(RED._('session-cache.errors.expired', { session: expired.cloudSessionId, device: expired.deviceId, hours: expiryHours }));
          }
          sendBatches(send, messages);
          msg.payload = { ...event, ...tags };
          send(msg);
        } else {
          throw new Error(RED._('session-cache.errors.unknown-topic', { topic }));
        }
        showStatus();
      },
      () => showStatus(),
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      status.stop();
      untrack();
      try {
        lease?.release();
      } finally {
        lease = null;
        cache = null;
        done();
      }
    });

    showStatus();
  }

  RED.nodes.registerType('session-cache', SessionCacheNode);
  registerAdminRoutes(RED);
};
