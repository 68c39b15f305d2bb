import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { ScaleGateway, OK_LATE_MS } from '../../lib/dp401/scale-gateway';
import { parseDp401Settings, type RawDp401Config } from '../../lib/dp401/settings';
import { ThrottledStatus } from '../shared/throttled-status';
import { onInput } from '../shared/input';
import { statusKey } from '../shared/status-text';
import { track, trackBroken } from '../shared/live-registry';
import { registerAdminRoutes } from '../shared/admin-routes';
import { WarningLimiter } from '../../lib/util/warning-limiter';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Config as the editor stores it (every field a string before validation). */
type Dp401InDef = NodeDef & RawDp401Config;

/** Routes a reply to the connection of the scale that sent a weighing (Node-RED's `msg._session`); copied along by later nodes. */
interface Dp401Session {
  type: 'dp401';
  id: string;
}

interface InputMessage extends NodeMessageInFlow {
  _session?: Dp401Session | { type?: unknown; id?: unknown };
}

function formatKg(grams: number): string {
  return (grams / 1000).toFixed(3);
}

/**
 * Where a dp401-in keeps its known scales across restarts and redeploys: a small JSON file per
 * node in Node-RED's user directory (it has no database of its own, and the file is written
 * only when a scale connects, disconnects or is forgotten). None without a user directory.
 */
function knownScalesFile(userDir: string | undefined, nodeId: string): string | null {
  return userDir ? path.join(userDir, 'carnitrack', `known-scales-${nodeId.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`) : null;
}

export = function register(RED: NodeAPI): void {
  function Dp401InNode(this: Node, config: Dp401InDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const { settings, errors } = parseDp401Settings(config);
    const status = new ThrottledStatus((s: NodeStatus) => node.status(s), 250);

    if (!settings) {
      for (const e of errors) node.error(RED._('dp401-in.errors.invalid-setting', { message: e.message }));
      const forget = trackBroken(node, errors.map((e) => e.message).join('; '));
      status.set({ fill: 'red', shape: 'ring', text: statusKey('dp401-in.status.invalid') });
      onInput(node, () => {
        throw new Error(RED._('dp401-in.errors.not-running'));
      });
      node.on('close', (_removed: boolean, done: () => void) => {
        status.stop();
        forget();
        done();
      });
      return;
    }

    // Check health often enough for short thresholds, at most once a second otherwise.
    const file = knownScalesFile((RED.settings as { userDir?: string }).userDir, node.id);
    const gateway = new ScaleGateway(settings, { healthIntervalMs: Math.min(1000, settings.staleAfterMs / 3), knownScalesFile: file });
    let bindProblem: string | null = null;
    const untrack = track('gateways', node, gateway, {
      port: settings.port,
      bindAddress: settings.bindAddress,
      allowedSources: settings.allowedSources.join(', ') || null,
      encoding: settings.encoding,
      weightUnit: settings.weightUnit,
      timeZone: settings.timeZone,
      ackMode: settings.ackMode,
      maxConnections: settings.maxConnections,
      missingAfterMin: settings.missingAfterMs / 60_000,
    });

    const describe = (): NodeStatus => {
      if (bindProblem) return { fill: 'red', shape: 'ring', text: bindProblem };
      if (!gateway.isListening) return { fill: 'grey', shape: 'ring', text: statusKey('dp401-in.status.starting') };
      const devices = gateway.devices();
      if (devices.length === 0) return { fill: 'yellow', shape: 'ring', text: statusKey('dp401-in.status.waiting', { port: settings.port }) };
      // Weighings the store has not OK'd: the scales wait, so this outranks the weights.
      if (gateway.oldestPendingAckMs() > OK_LATE_MS)
        return { fill: 'red', shape: 'dot', text: statusKey('dp401-in.status.no-ok', { count: gateway.pendingAckCount }) };
      // Two scales with one id: their weighings cannot be told apart.
      const conflict = gateway.idConflicts()[0];
      if (conflict) return { fill: 'red', shape: 'dot', text: statusKey('dp401-in.status.id-conflict', { device: conflict.deviceId }) };
      // The store is behind: no scale is read until it catches up (the scales wait, TCP holds their lines).
      if (gateway.readingPaused) return { fill: 'yellow', shape: 'dot', text: statusKey('dp401-in.status.paused', { count: gateway.pendingAckCount }) };
      const last = gateway.lastEvent;
      const text = last
        ? statusKey('dp401-in.status.scales-weight', { count: devices.length, kg: formatKg(last.weightGrams) })
        : statusKey('dp401-in.status.scales', { count: devices.length });
      const worry = devices.some((d) => d.health === 'stale') || gateway.missingScales().length > 0;
      return { fill: worry ? 'yellow' : 'green', shape: 'dot', text };
    };

    gateway.on('change', () => status.set(describe));
    gateway.on('listening', (addr) => {
      bindProblem = null;
      node.log(RED._('dp401-in.log.listening', { address: addr.address, port: addr.port }));
    });
    gateway.on('bind-error', (err, retryInMs) => {
      const seconds = Math.round(retryInMs / 1000);
      bindProblem = err.code === 'EADDRINUSE' ? statusKey('dp401-in.status.port-in-use', { port: settings.port }) : statusKey('dp401-in.status.bind-failed');
      node.error(RED._('dp401-in.errors.bind', { port: settings.port, address: settings.bindAddress, error: err.message, seconds }));
    });
    gateway.on('event', (event, connectionId) => {
      const session: Dp401Session = { type: 'dp401', id: connectionId };
      node.send([{ topic: 'event', payload: event, _session: session } as NodeMessage, null]);
    });
    gateway.on('device', (topic, payload) => {
      node.send([null, { topic, payload }]);
    });
    gateway.on('line-rejected', (info) => {
      const msg = { topic: 'line_rejected', payload: info };
      node.error(RED._('dp401-in.errors.line-rejected', { device: info.deviceId ?? info.sourceIp, error: info.error, raw: info.raw }), msg);
    });
    gateway.on('warning', (w) => node.warn(w.message));
    gateway.on('info', (message) => node.log(message));
    // A failing disk refuses every weighing: one log line a minute with the count. Catch nodes
    // see each refusal from event-store, which fails that message with its error.
    const notStoredLog = new WarningLimiter();
    const notStoredFlush = setInterval(() => notStoredLog.flush(performance.now()).forEach((l) => node.warn(l.message)), 5000);

    onInput<InputMessage>(node, (msg) => {
      const payload = (msg.payload ?? {}) as { localEventId?: unknown; deviceId?: unknown };
      const session = msg._session && msg._session.type === 'dp401' && typeof msg._session.id === 'string' ? msg._session.id : null;
      if (msg.topic === 'ack') {
        if (!session) throw new Error(RED._('dp401-in.errors.ack-without-session'));
        const eventId = typeof payload.localEventId === 'string' ? payload.localEventId : undefined;
        gateway.acknowledge(session, eventId);
        return;
      }
      if (msg.topic === 'not_stored') {
        const eventId = typeof payload.localEventId === 'string' ? payload.localEventId : null;
        if (!eventId) throw new Error(RED._('dp401-in.errors.not-stored', { id: 'a weighing', error: 'msg.payload.localEventId is missing' }));
        gateway.notStored(eventId);
        const line = notStoredLog.offer(
          'not-stored',
          RED._('dp401-in.errors.not-stored', { id: eventId, error: String((payload as { error?: unknown }).error ?? 'unknown') }),
          performance.now(),
        );
        if (line) node.warn(line.message);
        return;
      }
      if (msg.topic === 'disconnect') {
        const target = typeof msg.payload === 'string' ? msg.payload : typeof payload.deviceId === 'string' ? payload.deviceId : session;
        if (!target || !gateway.disconnect(target, 'requested')) {
          node.warn(RED._('dp401-in.errors.disconnect-unknown', { target: String(target) }));
        }
        return;
      }
      throw new Error(RED._('dp401-in.errors.unknown-topic', { topic: String(msg.topic) }));
    });

    node.on('close', (removed: boolean, done: () => void) => {
      status.stop();
      clearInterval(notStoredFlush);
      untrack();
      gateway
        .stop()
        // A node deleted from the flow takes its known scales with it (a redeploy keeps them).
        .then(() => {
          if (removed && file) for (const f of [file, `${file}.bak`]) fs.rmSync(f, { force: true });
        })
        .catch((err: Error) => node.error(err.message))
        .finally(() => done());
    });

    status.set(describe);
    gateway.start();
  }

  RED.nodes.registerType('dp401-in', Dp401InNode);
  registerAdminRoutes(RED);
};
