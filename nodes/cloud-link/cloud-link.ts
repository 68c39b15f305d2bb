import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import { OutageLog } from '../../lib/cloud/outage-log';
import { CloudClient, type CloudStatus, type TlsOptions } from '../../lib/cloud/cloud-client';
import { parseCloudLinkSettings } from '../../lib/cloud/settings';
import { HeldStatuses } from '../../lib/cloud/held-statuses';
import { AckGroups } from '../../lib/cloud/ack-groups';
import { loadEdgeId, saveEdgeId } from '../../lib/cloud/edge-id';
import { isKeyRefused } from '../../lib/cloud/link-reason';
import { MESSAGES } from '../../lib/protocol/messages';
import { globalDeviceId } from '../../lib/site/device-id';
import { onInput, payloadObject } from '../shared/input';
import { ThrottledStatus } from '../shared/throttled-status';
import { statusKey } from '../shared/status-text';
import { startOnSite } from '../shared/startup';
import { siteOf } from '../shared/site-node';
import { markBroken, type Lease } from '../../lib/db/database-pool';
import { isDiskFault } from '../../lib/db/database';
import { registerAdminRoutes } from '../shared/admin-routes';

type CloudLinkDef = NodeDef & Record<string, unknown> & { site?: string; url?: string; tls?: string };

/** Device status messages kept while the link is down: the latest per device, at most this many. */
const MAX_HELD_DEVICES = 1000;
const CAPABILITIES = ['events', 'event_batch', 'offline_batches', 'sessions', 'device_status'];

/** Node-RED's tls-config node, where one is chosen. */
interface TlsConfigNode extends Node {
  addTLSOptions(opts: Record<string, unknown>): void;
}

/** The TLS options of the chosen tls-config node, if any. */
function tlsOptions(RED: NodeAPI, id: unknown): TlsOptions | undefined {
  const tlsNode = typeof id === 'string' && id ? (RED.nodes.getNode(id) as TlsConfigNode | null) : null;
  if (!tlsNode) return undefined;
  const opts: Record<string, unknown> = {};
  tlsNode.addTLSOptions(opts);
  return opts as TlsOptions;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export = function register(RED: NodeAPI): void {
  function CloudLinkNode(this: Node<{ apiKey?: string }>, config: CloudLinkDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new ThrottledStatus((s: NodeStatus) => node.status(s), 250);
    const parsed = parseCloudLinkSettings(config);
    const cfg = parsed.settings;
    // The key lives in Node-RED's encrypted credentials, never in the flow; the environment is the fallback.
    const apiKey = node.credentials?.apiKey || process.env.CLOUD_API_KEY || '';
    const held = new HeldStatuses(MAX_HELD_DEVICES);
    const ackGroups = new AckGroups((group) => node.send([null, null, { topic: 'event_acks', payload: group }]));
    const started = startOnSite(RED, node, 'links', config.site, parsed.errors, {
      open: (lease, site) => {
        if (!apiKey) node.warn(RED._('cloud-link.errors.no-api-key'));
        return new CloudClient({
          url: cfg!.url,
          apiKey,
          siteId: site.siteId,
          siteName: site.siteName,
          edgeId: loadEdgeId(lease.db),
          version: packageVersion(),
          capabilities: CAPABILITIES,
          keepAliveMs: cfg!.keepAliveS * 1000,
          pongTimeoutMs: cfg!.pongTimeoutS * 1000,
          minBackoffMs: cfg!.minBackoffS * 1000,
          maxBackoffMs: cfg!.maxBackoffS * 1000,
          handshakeTimeoutMs: cfg!.handshakeTimeoutS * 1000,
          maxFrameBytes: cfg!.maxFrameKB * 1024,
          tls: tlsOptions(RED, config.tls),
        });
      },
      resolved: (site) => ({
        url: cfg!.url,
        siteId: site.siteId,
        apiKey: node.credentials?.apiKey ? 'credentials' : process.env.CLOUD_API_KEY ? 'CLOUD_API_KEY' : 'none',
        tls: Boolean(config.tls),
        ackOutput: cfg!.ackOutput,
      }),
      // The link needs the database only for its edge id: a disk fault must not drop the Cloud link.
      holdLease: false,
    });
    let client = started.part;
    if (!client) status.set({ fill: 'red', shape: 'ring', text: statusKey('cloud-link.status.not-running') });
    const url = cfg?.url ?? '';

    const describe = (s: CloudStatus): NodeStatus => {
      if (s.connected) return { fill: 'green', shape: 'dot', text: statusKey('cloud-link.status.connected') };
      if (s.state === 'connecting') return { fill: 'yellow', shape: 'ring', text: statusKey('cloud-link.status.connecting') };
      if (s.state === 'waiting') {
        if (isKeyRefused(s.reason)) return { fill: 'red', shape: 'ring', text: statusKey('cloud-link.status.unauthorized') };
        return { fill: 'yellow', shape: 'ring', text: statusKey('cloud-link.status.waiting', { seconds: Math.ceil((s.nextRetryMs ?? 0) / 1000) }) };
      }
      return { fill: 'grey', shape: 'ring', text: statusKey('cloud-link.status.stopped') };
    };

    if (client) {
      const c = client;
      let wasConnected = false;
      const outages = new OutageLog();
      c.on('status', (s) => {
        status.set(describe(s));
        const justConnected = s.connected && !wasConnected;
        wasConnected = s.connected;
        node.send([
          null,
          {
            topic: 'cloud_status',
            payload: { connected: s.connected, edgeId: s.edgeId, reason: s.reason, attempt: s.attempt, nextRetryMs: s.nextRetryMs, state: s.state },
          },
        ]);
        if (justConnected) held.flush((topic, payload) => c.send(topic, payload));
        const line = outages.onStatus(s, Date.now());
        if (line) (line.level === 'warn' ? node.warn : node.log).call(node, RED._(`cloud-link.log.${line.key}`, { url, ...line.params }));
      });
      c.on('edge-id', (edgeId) => {
        // On a lease of its own for this one write; a failing disk costs the saved id (the
        // Cloud's register answer gives it again), never the link or the process.
        let lease: Lease | null = null;
        try {
          const site = siteOf(RED, config.site);
          if (typeof site === 'string') throw new Error(site);
          // Only a database that is there: after a disk fault the mount point may be empty.
          lease = site.lease({ mustExist: true });
          saveEdgeId(lease.db, edgeId);
          node.log(RED._('cloud-link.log.edge-id', { edgeId }));
        } catch (err) {
          if (lease && isDiskFault(err)) markBroken(lease.db, err as Error);
          node.warn(RED._('cloud-link.errors.edge-id-not-saved', { edgeId, error: (err as Error).message }));
        } finally {
          lease?.release();
        }
      });
      const grouped = cfg!.ackOutput === 'grouped';
      c.on('message', (type, payload) => {
        if (grouped && type === 'event_ack') ackGroups.ack(payload);
        else if (grouped && type === 'event_rejected') ackGroups.reject(payload);
        else node.send([{ topic: type, payload }, null, null]);
      });
      c.on('invalid', (reason, excerpt) => {
        node.error(RED._('cloud-link.errors.invalid-frame', { reason }), { topic: 'invalid_frame', payload: { reason, excerpt } });
      });
    }

    onInput<NodeMessageInFlow>(node, (msg) => {
      if (!client) throw new Error(RED._('cloud-link.errors.not-running'));
      const topic = String(msg.topic ?? '');
      if (topic === 'reconnect') {
        client.reconnectNow();
        return;
      }
      const spec = MESSAGES[topic];
      if (!spec || spec.direction === 'to-edge') throw new Error(RED._('cloud-link.errors.not-protocol', { topic }));
      let payload = payloadObject(msg);
      if (spec.deviceStatus && typeof payload.deviceId === 'string' && !payload.globalDeviceId) {
        // The Cloud knows devices as <siteId>-<deviceId>; events get it in session-cache.
        payload = { ...payload, globalDeviceId: globalDeviceId(started.site!.siteId, payload.deviceId) };
      }
      if (client.send(topic, payload)) return;
      if (spec.deviceStatus) held.hold(String(payload.deviceId ?? ''), topic, payload);
      // Store-backed messages (events, batches) are not kept: event-store sends them again.
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      ackGroups.flush(); // acks already received reach event-store, which writes them before it closes
      status.stop();
      held.clear();
      const c = client;
      client = null;
      (c ? c.stop() : Promise.resolve())
        .catch((err: Error) => node.error(err.message))
        .finally(() => {
          started.release();
          done();
        });
    });

    if (client) {
      node.send([
        null,
        { topic: 'cloud_status', payload: { connected: false, edgeId: client.edgeId, reason: 'starting', attempt: 0, nextRetryMs: null, state: 'connecting' } },
      ]);
      client.start();
    }
  }

  registerAdminRoutes(RED);
  RED.nodes.registerType<Node<{ apiKey?: string }>, CloudLinkDef, object, { apiKey?: string }>('cloud-link', CloudLinkNode, {
    credentials: { apiKey: { type: 'password' } },
  });
};
