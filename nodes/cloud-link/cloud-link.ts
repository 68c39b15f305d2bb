import * as fs from 'node:fs';
import * as path from 'node:path';
import { OutageLog } from '../../lib/cloud/outage-log';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import { CloudClient, type CloudStatus, type TlsOptions } from '../../lib/cloud/cloud-client';
import { MESSAGES } from '../../lib/protocol/messages';
import { getSetting, setSetting } from '../../lib/db/database';
import { fieldText, NumberFields } from '../../lib/util/config-fields';
import type { Lease } from '../../lib/db/database-pool';
import { siteOf } from '../shared/site-node';
import { onInput, payloadObject } from '../shared/input';
import { ThrottledStatus } from '../shared/throttled-status';
import { statusKey } from '../shared/status-text';
import { isKeyRefused } from '../../lib/cloud/link-reason';
import { track, trackBroken } from '../shared/live-registry';
import { registerAdminRoutes } from '../shared/admin-routes';
import { globalDeviceId } from '../../lib/site/device-id';

type CloudLinkDef = NodeDef & Record<string, unknown> & { site?: string; url?: string; tls?: string };

const DEFAULT_URL = 'wss://api.carnitrack.cloud/edge/ws';
const EDGE_ID_KEY = 'cloud.edgeId';
/** Device status messages kept while the link is down: the latest per device, at most this many. */
const MAX_HELD_DEVICES = 1000;
const CAPABILITIES = ['events', 'event_batch', 'offline_batches', 'sessions', 'device_status'];

/** Node-RED's tls-config node, where one is chosen. */
interface TlsConfigNode extends Node {
  addTLSOptions(opts: Record<string, unknown>): void;
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
    const f = new NumberFields(config, { keepAliveS: 30, pongTimeoutS: 10, minBackoffS: 1, maxBackoffS: 60, handshakeTimeoutS: 10, maxFrameKB: 1024 });
    const keepAliveS = f.read('keepAliveS', 0.1, 3600, false);
    const pongTimeoutS = f.read('pongTimeoutS', 0.1, 600, false);
    const minBackoffS = f.read('minBackoffS', 0.01, 3600, false);
    const maxBackoffS = f.read('maxBackoffS', 0.01, 86_400, false);
    const handshakeTimeoutS = f.read('handshakeTimeoutS', 0.1, 600, false);
    const maxFrameKB = f.read('maxFrameKB', 1, 65_536);
    if (maxBackoffS < minBackoffS) f.errors.push({ field: 'maxBackoffS', message: `maxBackoffS (${maxBackoffS}) must not be below minBackoffS (${minBackoffS})` });
    const url = fieldText(config.url, process.env.CLOUD_WS_URL || DEFAULT_URL);
    if (!/^wss?:\/\/[^\s]+$/.test(url)) f.errors.push({ field: 'url', message: `url must start with ws:// or wss://, got "${url}"` });
    // The key lives in Node-RED's encrypted credentials, never in the flow; the environment is the fallback.
    const apiKey = node.credentials?.apiKey || process.env.CLOUD_API_KEY || '';
    const site = siteOf(RED, config.site);

    // Flows saved before this setting existed keep their acks on output 1.
    const ackOutput = fieldText(config.ackOutput, 'each');
    const groupedAcks = ackOutput === 'grouped';
    if (ackOutput !== 'grouped' && ackOutput !== 'each') f.errors.push({ field: 'ackOutput', message: `ackOutput must be "grouped" or "each", got "${String(config.ackOutput)}"` });
    let client: CloudClient | null = null;
    let lease: Lease | null = null;
    const held = new Map<string, { topic: string; payload: Record<string, unknown> }>();
    // Acks received in one turn of the event loop (one event_batch answer, typically) go out as
    // one message: a flow passes one message per turn per node, and the Cloud acks every event.
    let acks: Array<Record<string, unknown>> = [];
    let rejected: Array<Record<string, unknown>> = [];
    let acksScheduled = false;
    const sendAcks = (): void => {
      acksScheduled = false;
      if (!acks.length && !rejected.length) return;
      node.send([null, null, { topic: 'event_acks', payload: { acks, rejected } }]);
      acks = [];
      rejected = [];
    };

    let notRunning = '';
    const problem = typeof site === 'string' ? site : f.errors.map((e) => e.message).join('; ') || null;
    if (problem || typeof site === 'string') {
      notRunning = RED._('cloud-link.errors.invalid', { problem: String(problem) });
      node.error(notRunning);
      status.set({ fill: 'red', shape: 'ring', text: statusKey('cloud-link.status.not-running') });
    } else {
      if (!apiKey) node.warn(RED._('cloud-link.errors.no-api-key'));
      let tls: TlsOptions | undefined;
      if (config.tls) {
        const tlsNode = RED.nodes.getNode(config.tls) as TlsConfigNode | null;
        if (tlsNode) {
          const opts: Record<string, unknown> = {};
          tlsNode.addTLSOptions(opts);
          tls = opts as TlsOptions;
        }
      }
      try {
        lease = site.lease();
        const s = site.site!;
        client = new CloudClient({
          url,
          apiKey,
          siteId: s.siteId,
          siteName: s.siteName,
          edgeId: getSetting(lease.db, EDGE_ID_KEY),
          version: packageVersion(),
          capabilities: CAPABILITIES,
          keepAliveMs: keepAliveS * 1000,
          pongTimeoutMs: pongTimeoutS * 1000,
          minBackoffMs: minBackoffS * 1000,
          maxBackoffMs: maxBackoffS * 1000,
          handshakeTimeoutMs: handshakeTimeoutS * 1000,
          maxFrameBytes: maxFrameKB * 1024,
          tls,
        });
      } catch (err) {
        lease?.release();
        lease = null;
        notRunning = RED._('cloud-link.errors.database', { error: (err as Error).message });
        node.error(notRunning);
        status.set({ fill: 'red', shape: 'ring', text: statusKey('cloud-link.status.not-running') });
      }
    }

    const describe = (s: CloudStatus): NodeStatus => {
      if (s.connected) return { fill: 'green', shape: 'dot', text: statusKey('cloud-link.status.connected') };
      if (s.state === 'connecting') return { fill: 'yellow', shape: 'ring', text: statusKey('cloud-link.status.connecting') };
      if (s.state === 'waiting') {
        if (isKeyRefused(s.reason)) return { fill: 'red', shape: 'ring', text: statusKey('cloud-link.status.unauthorized') };
        return { fill: 'yellow', shape: 'ring', text: statusKey('cloud-link.status.waiting', { seconds: Math.ceil((s.nextRetryMs ?? 0) / 1000) }) };
      }
      return { fill: 'grey', shape: 'ring', text: statusKey('cloud-link.status.stopped') };
    };

    const untrack = client
      ? track('links', node, client, {
          url,
          siteId: typeof site !== 'string' ? site.site!.siteId : null,
          apiKey: node.credentials?.apiKey ? 'credentials' : process.env.CLOUD_API_KEY ? 'CLOUD_API_KEY' : 'none',
          tls: Boolean(config.tls),
          ackOutput,
        })
      : trackBroken(node, notRunning);
    if (client) {
      const c = client;
      const l = lease!;
      let wasConnected = false;
      const outages = new OutageLog();
      c.on('status', (s) => {
        status.set(describe(s));
        const justConnected = s.connected && !wasConnected;
        wasConnected = s.connected;
        node.send([null, { topic: 'cloud_status', payload: { connected: s.connected, edgeId: s.edgeId, reason: s.reason, attempt: s.attempt, nextRetryMs: s.nextRetryMs, state: s.state } }]);
        if (justConnected) {
          for (const m of held.values()) c.send(m.topic, m.payload);
          held.clear();
        }
        const line = outages.onStatus(s, Date.now());
        if (line) (line.level === 'warn' ? node.warn : node.log).call(node, RED._(`cloud-link.log.${line.key}`, { url, ...line.params }));
      });
      c.on('edge-id', (edgeId) => {
        setSetting(l.db, EDGE_ID_KEY, edgeId);
        node.log(RED._('cloud-link.log.edge-id', { edgeId }));
      });
      c.on('message', (type, payload) => {
        if (groupedAcks && type === 'event_ack') acks.push(payload);
        else if (groupedAcks && type === 'event_rejected') rejected.push(payload);
        else return node.send([{ topic: type, payload }, null, null]);
        if (!acksScheduled) {
          acksScheduled = true;
          setImmediate(sendAcks);
        }
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
      if (spec.deviceStatus && typeof payload.deviceId === 'string' && !payload.globalDeviceId && typeof site !== 'string') {
        // The Cloud knows devices as <siteId>-<deviceId>; events get it in session-cache.
        payload = { ...payload, globalDeviceId: globalDeviceId(site.site!.siteId, payload.deviceId) };
      }
      if (client.send(topic, payload)) return;
      if (spec.deviceStatus) {
        // While down, only the latest status of each device is worth sending later.
        const device = String(payload.deviceId ?? '');
        held.delete(device);
        if (held.size >= MAX_HELD_DEVICES) held.delete(held.keys().next().value!);
        held.set(device, { topic, payload });
      }
      // Store-backed messages (events, batches) are not kept: event-store sends them again.
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      sendAcks(); // acks already received reach event-store, which writes them before it closes
      status.stop();
      untrack();
      held.clear();
      const c = client;
      client = null;
      (c ? c.stop() : Promise.resolve())
        .catch((err: Error) => node.error(err.message))
        .finally(() => {
          lease?.release();
          lease = null;
          done();
        });
    });

    if (client) {
      node.send([null, { topic: 'cloud_status', payload: { connected: false, edgeId: client.edgeId, reason: 'starting', attempt: 0, nextRetryMs: null, state: 'connecting' } }]);
      client.start();
    }
  }

  registerAdminRoutes(RED);
  RED.nodes.registerType<Node<{ apiKey?: string }>, CloudLinkDef, object, { apiKey?: string }>('cloud-link', CloudLinkNode, { credentials: { apiKey: { type: 'password' } } });
};
