import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import type { CloudStatus, TlsOptions } from '../../lib/cloud/cloud-client';
import { parseCloudLinkSettings } from '../../lib/cloud/settings';
import { LinkRunner } from '../../lib/cloud/link-runner';
import { loadEdgeId, saveEdgeId } from '../../lib/cloud/edge-id';
import { isKeyRefused } from '../../lib/cloud/link-reason';
import { onInput } from '../shared/input';
import { ThrottledStatus } from '../shared/throttled-status';
import { statusKey } from '../shared/status-text';
import { startOnSite } from '../shared/startup';
import { siteOf } from '../shared/site-node';
import { markBroken, type Lease } from '../../lib/db/database-pool';
import { isDiskFault } from '../../lib/db/database';
import { registerAdminRoutes } from '../shared/admin-routes';

type CloudLinkDef = NodeDef & Record<string, unknown> & { site?: string; url?: string; tls?: string };

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

export = function register(RED: NodeAPI): void {
  function CloudLinkNode(this: Node<{ apiKey?: string }>, config: CloudLinkDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new ThrottledStatus((s: NodeStatus) => node.status(s), 250);
    const parsed = parseCloudLinkSettings(config);
    const cfg = parsed.settings;
    const url = cfg?.url ?? '';
    // The key lives in Node-RED's encrypted credentials, never in the flow; the environment is the fallback.
    const apiKey = node.credentials?.apiKey || process.env.CLOUD_API_KEY || '';
    const runner = cfg
      ? new LinkRunner(cfg, {
          status: (m) => node.send([null, m]),
          fromCloud: (m) => node.send([m, null, null]),
          acks: (m) => node.send([null, null, m]),
          log: (line) => (line.level === 'warn' ? node.warn : node.log).call(node, RED._(`cloud-link.log.${line.key}`, { url, ...line.params })),
        })
      : null;
    const started = startOnSite(RED, node, 'links', config.site, parsed.errors, {
      open: (lease, site) => {
        if (!apiKey) node.warn(RED._('cloud-link.errors.no-api-key'));
        return runner!.open(site, apiKey, loadEdgeId(lease.db), tlsOptions(RED, config.tls));
      },
      resolved: (site) => ({
        url,
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

    const describe = (s: CloudStatus): NodeStatus => {
      if (s.connected) return { fill: 'green', shape: 'dot', text: statusKey('cloud-link.status.connected') };
      if (s.state === 'connecting') return { fill: 'yellow', shape: 'ring', text: statusKey('cloud-link.status.connecting') };
      if (s.state === 'waiting') {
        if (isKeyRefused(s.reason)) return { fill: 'red', shape: 'ring', text: statusKey('cloud-link.status.unauthorized') };
        return { fill: 'yellow', shape: 'ring', text: statusKey('cloud-link.status.waiting', { seconds: Math.ceil((s.nextRetryMs ?? 0) / 1000) }) };
      }
      return { fill: 'grey', shape: 'ring', text: statusKey('cloud-link.status.stopped') };
    };

    client?.on('status', (s) => status.set(describe(s)));
    client?.on('edge-id', (edgeId) => {
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
    client?.on('invalid', (reason, excerpt) => {
      node.error(RED._('cloud-link.errors.invalid-frame', { reason }), { topic: 'invalid_frame', payload: { reason, excerpt } });
    });

    onInput<NodeMessageInFlow>(RED, node, (msg) => {
      if (!client) throw new Error(RED._('cloud-link.errors.not-running'));
      if (msg.topic === 'reconnect') client.reconnectNow();
      else runner!.send(client, msg, started.site!.siteId);
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      runner?.close(); // acks already received reach event-store, which writes them before it closes
      status.stop();
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
      runner!.starting(client);
      client.start();
    }
  }

  registerAdminRoutes(RED);
  RED.nodes.registerType<Node<{ apiKey?: string }>, CloudLinkDef, object, { apiKey?: string }>('cloud-link', CloudLinkNode, {
    credentials: { apiKey: { type: 'password' } },
  });
};
