import type { NodeAPI } from 'node-red';
import type { Request, Response, RequestHandler } from 'express';
import { live } from './live-registry';
import type { SyncState } from '../../lib/store/event-store';

/**
 * Read-only admin views over HTTP, on Node-RED's admin app so they share its login:
 * GET /carnitrack/status, /devices, /sessions, /events, /batches need the
 * "carnitrack.read" permission (a "read" user has it). GET /carnitrack/health is open,
 * tells only whether the edge works, and answers 503 when it does not (for HEALTHCHECK).
 */

const registeredApps = new WeakSet<object>();
const started = Date.now();

const STATES: SyncState[] = ['pending', 'synced', 'failed'];

/** A query the caller got wrong: answered 400 with the reason, never 500. */
class BadRequest extends Error {}

export function registerAdminRoutes(RED: NodeAPI): void {
  const app = RED.httpAdmin as unknown as { get(path: string, ...h: RequestHandler[]): void };
  if (!app || registeredApps.has(app)) return;
  registeredApps.add(app);
  const read = RED.auth.needsPermission('carnitrack.read') as unknown as RequestHandler;
  const json = (handler: (req: Request) => unknown): RequestHandler => (req, res: Response) => {
    try {
      res.json(handler(req));
    } catch (err) {
      res.status(err instanceof BadRequest ? 400 : 500).json({ error: (err as Error).message });
    }
  };

  app.get('/carnitrack/health', (_req: Request, res: Response) => {
    const gateways = [...live.gateways.values()];
    const stores = [...live.stores.values()];
    const problems: string[] = [];
    if (!gateways.length && !stores.length) problems.push('no CarniTrack nodes are running');
    for (const g of gateways) if (!g.part.isListening) problems.push(`${g.name}: not listening on port ${g.part.settings.port}`);
    for (const s of stores) if (s.part.lastWriteError) problems.push(`${s.name}: ${s.part.lastWriteError}`);
    res.status(problems.length ? 503 : 200).json({
      status: problems.length ? 'unhealthy' : 'ok',
      problems,
      cloudConnected: [...live.links.values()].some((l) => l.part.isConnected),
      uptimeS: Math.round((Date.now() - started) / 1000),
    });
  });

  app.get(
    '/carnitrack/status',
    read,
    json(() => ({
      cloud: [...live.links.values()].map((l) => ({ nodeId: l.nodeId, name: l.name, ...l.part.currentStatus })),
      stores: [...live.stores.values()].map((s) => ({ nodeId: s.nodeId, name: s.name, ...s.part.figures() })),
      scales: [...live.gateways.values()].map((g) => ({
        nodeId: g.nodeId,
        name: g.name,
        port: g.part.settings.port,
        listening: g.part.isListening,
        devices: g.part.devices().length,
        ...g.part.counters,
      })),
    })),
  );

  app.get(
    '/carnitrack/devices',
    read,
    json(() =>
      [...live.gateways.values()].flatMap((g) =>
        g.part.deviceViews().map(({ connectionId: _c, ...d }) => ({ nodeId: g.nodeId, ...d })),
      ),
    ),
  );

  app.get(
    '/carnitrack/sessions',
    read,
    json(() => {
      const now = Date.now();
      return [...live.caches.values()].map((c) => ({
        nodeId: c.nodeId,
        cloudReachable: c.part.isCloudReachable,
        sessions: c.part.sessions(now),
        openBatches: c.part.openBatches(),
      }));
    }),
  );

  app.get(
    '/carnitrack/events',
    read,
    json((req) => {
      const q = req.query as Record<string, string | undefined>;
      const state = q.state as SyncState | undefined;
      if (state !== undefined && !STATES.includes(state)) throw new BadRequest(`state must be one of ${STATES.join(', ')}`);
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new BadRequest(`limit must be a whole number from 1 to 10000, got "${String(q.limit)}"`);
      return [...live.stores.values()].flatMap((s) =>
        s.part.store.recent({ deviceId: q.device, cloudSessionId: q.session, offlineBatchId: q.batch, syncState: state, limit }),
      );
    }),
  );

  app.get(
    '/carnitrack/batches',
    read,
    json(() =>
      [...live.stores.values()].flatMap((s) => s.part.ledger.recent(100).map((b) => ({ ...b, ...s.part.store.batchTotals(b.batchId) }))),
    ),
  );
}
