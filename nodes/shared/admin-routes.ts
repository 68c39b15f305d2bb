import type { NodeAPI } from 'node-red';
import type { Request, Response, RequestHandler } from 'express';
import { live, findLive, livePart, broken, resolvedSettings, NODE_TYPE, type Kind, type LiveEntry, type PartOf } from './live-registry';
import { currentProblems, problemText } from './problems';
import { gatewayTimeZone } from '../../lib/dp401/scale-time';
import { MAX_RECENT, type SyncState } from '../../lib/store/event-log';
import { runInSteps } from '../../lib/util/steps';
import { CSV_HEADER, MAX_CSV_ROWS, csvLine, csvRange } from '../../lib/store/csv-export';
import * as path from 'node:path';
import { formatOpenMetrics, OPENMETRICS_CONTENT_TYPE, type MetricFamily, type Sample } from '../../lib/metrics/openmetrics';
import { processMetrics } from '../../lib/metrics/process-metrics';

/**
 * Read-only admin views over HTTP, on Node-RED's admin app so they share its login:
 * GET /carnitrack/status, /devices, /sessions, /events, /batches, /resolved/:id need the
 * "carnitrack.read" permission (a "read" user has it), and so does GET /metrics (OpenMetrics
 * text for the plant's Prometheus). The tab's controls, POST
 * /carnitrack/stores/:id/retry-failed, /carnitrack/stores/:id/backup and
 * /carnitrack/links/:id/reconnect, and DELETE /carnitrack/scales/:id, need
 * "carnitrack.write" (a user with "*" has it). GET /carnitrack/health is open,
 * tells only whether the edge works, and answers 503 when it does not (for HEALTHCHECK).
 * Every time in these answers is an ISO 8601 string in UTC.
 */

const registeredApps = new WeakSet<object>();
const started = Date.now();

const STATES: SyncState[] = ['pending', 'synced', 'failed'];

/** A query the caller got wrong: answered 400 with the reason, never 500. */
class BadRequest extends Error {}
/** No running node with that id: answered 404. */
class NotFound extends Error {}
/** Not possible in the state things are in (a connected scale cannot be forgotten): answered 409. */
class Conflict extends Error {}

/** The same record with the named epoch-millisecond fields as ISO strings (null stays null). */
function isoTimes<T extends object, K extends keyof T>(row: T, keys: K[]): Omit<T, K> & Record<K, string | null> {
  const out = { ...row } as Record<string, unknown>;
  for (const k of keys) {
    const v = out[k as string];
    out[k as string] = typeof v === 'number' ? new Date(v).toISOString() : null;
  }
  return out as Omit<T, K> & Record<K, string | null>;
}

export function registerAdminRoutes(RED: NodeAPI): void {
  const app = RED.httpAdmin as unknown as {
    get(path: string, ...h: RequestHandler[]): void;
    post(path: string, ...h: RequestHandler[]): void;
    delete(path: string, ...h: RequestHandler[]): void;
  };
  if (!app || registeredApps.has(app)) return;
  registeredApps.add(app);
  const read = RED.auth.needsPermission('carnitrack.read') as unknown as RequestHandler;
  const write = RED.auth.needsPermission('carnitrack.write') as unknown as RequestHandler;
  const json =
    (handler: (req: Request) => unknown): RequestHandler =>
    (req, res: Response) => {
      new Promise((resolve) => resolve(handler(req))).then(
        (body) => res.json(body),
        (err: unknown) =>
          res
            .status(err instanceof BadRequest ? 400 : err instanceof NotFound ? 404 : err instanceof Conflict ? 409 : 500)
            .json({ error: (err as Error).message }),
      );
    };

  // Unhealthy whenever the tab shows an error-level problem (a node that could not start or lost
  // its disk, a scale port not listening, weighings waiting for OK, the store refusing writes,
  // the disk full, the API key refused): the plant learns the same truth from both.
  app.get('/carnitrack/health', (_req: Request, res: Response) => {
    const all = currentProblems();
    const problems = all.filter((p) => p.severity === 'error').map(problemText);
    if (!live.gateways.size && !live.stores.size && !problems.length) problems.push('no CarniTrack nodes are running');
    res.status(problems.length ? 503 : 200).json({
      status: problems.length ? 'unhealthy' : 'ok',
      problems,
      warnings: all.filter((p) => p.severity === 'warning').map(problemText),
      cloudConnected: [...live.links.values()].some((l) => l.part.isConnected),
      uptimeS: Math.round((Date.now() - started) / 1000),
    });
  });

  app.get(
    '/carnitrack/status',
    read,
    json(() => {
      // Each store's figures are read once (they stat the database and the disk) and serve both.
      const stores = [...live.stores.values()].map((s) => ({ nodeId: s.nodeId, name: s.name, ...s.part.figures() }));
      return {
        gateway: { timeZone: gatewayTimeZone() },
        problems: currentProblems(new Map(stores.map((s) => [s.nodeId, s]))),
        cloud: [...live.links.values()].map((l) => ({ nodeId: l.nodeId, name: l.name, ...l.part.currentStatus })),
        stores,
        scales: [...live.gateways.values()].map((g) => ({
          nodeId: g.nodeId,
          name: g.name,
          port: g.part.settings.port,
          listening: g.part.isListening,
          devices: g.part.devices().length,
          known: g.part.known.size,
          ...g.part.counters,
        })),
        settings: resolvedSettings(),
      };
    }),
  );

  // What a node resolved its settings to (environment variables filled in), for its dialog.
  app.get(
    '/carnitrack/resolved/:id',
    read,
    json((req) => {
      const e = findLive(String(req.params.id));
      return {
        gateway: { timeZone: gatewayTimeZone() },
        running: e !== null,
        resolved: e?.resolved ?? null,
        problem: broken.get(String(req.params.id))?.problem ?? null,
      };
    }),
  );

  /** The running part of kind `kind` whose node id is in the path, or a 404 naming it. */
  const running = <K extends Kind>(kind: K, req: Request): PartOf<K> => {
    const id = String(req.params.id);
    const part = livePart(kind, id);
    if (!part) throw new NotFound(`no running ${NODE_TYPE[kind]} with id ${id}`);
    return part;
  };

  app.post(
    '/carnitrack/stores/:id/retry-failed',
    write,
    json((req) => {
      const e = live.stores.get(String(req.params.id));
      if (!e) running('stores', req); // the 404
      return { requeued: reading(e!, (p) => p.retryFailed()) };
    }),
  );

  app.post(
    '/carnitrack/links/:id/reconnect',
    write,
    json((req) => {
      const link = running('links', req);
      // Connected already: nothing to do (the tab shows the button only while the link is down).
      if (link.isConnected) return { reconnecting: false, reason: 'already connected' };
      link.reconnectNow();
      return { reconnecting: true };
    }),
  );

  app.get('/metrics', read, (_req: Request, res: Response) => {
    try {
      res.set('Content-Type', OPENMETRICS_CONTENT_TYPE).send(formatOpenMetrics(edgeMetrics()));
    } catch (err) {
      res
        .status(500)
        .type('text/plain')
        .send(`metrics failed: ${(err as Error).message}\n`);
    }
  });

  app.get(
    '/carnitrack/devices',
    read,
    json(() => [...live.gateways.values()].flatMap((g) => g.part.deviceViews().map(({ connectionId: _c, ...d }) => ({ nodeId: g.nodeId, ...d })))),
  );

  // Forgets a scale that is not connected (the tab's Forget), on every dp401-in that knows it, or
  // on the one named by ?node=. A connected scale cannot be forgotten (409): it would be known
  // again at once, and the plant must see it while it is there.
  app.delete(
    '/carnitrack/scales/:id',
    write,
    json((req) => {
      const id = String(req.params.id);
      const only = (req.query as Record<string, string | undefined>).node;
      const gateways = [...live.gateways.values()].filter((g) => only === undefined || g.nodeId === only);
      if (only !== undefined && !gateways.length) throw new NotFound(`no running dp401-in with id ${only}`);
      const results = gateways.map((g) => ({ nodeId: g.nodeId, result: g.part.forget(id) }));
      if (results.some((r) => r.result === 'connected')) throw new Conflict(`${id} is connected: only a disconnected scale can be forgotten`);
      const forgotten = results.filter((r) => r.result === 'forgotten').map((r) => r.nodeId);
      if (!forgotten.length) throw new NotFound(`no dp401-in knows a scale ${id}`);
      return { deviceId: id, forgotten };
    }),
  );

  app.get(
    '/carnitrack/sessions',
    read,
    json(() => {
      const now = Date.now();
      return [...live.caches.values()].map((c) => ({
        nodeId: c.nodeId,
        cloudReachable: c.part.isCloudReachable,
        sessions: reading(c, (p) => p.sessions(now)).map((x) => isoTimes(x, ['updatedAt'])),
        openBatches: reading(c, (p) => p.openBatches()).map((b) => isoTimes(b, ['startSentAt', 'endSentAt'])),
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
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RECENT)
        throw new BadRequest(`limit must be a whole number from 1 to ${MAX_RECENT}, got "${String(q.limit)}"`);
      // A search by scale or session walks back through the table: a step per event-loop turn.
      const filter = { deviceId: q.device, cloudSessionId: q.session, offlineBatchId: q.batch, syncState: state, limit };
      return Promise.all(
        [...live.stores.values()].map(async (s) =>
          (
            await runInSteps(s.part.log.search(filter)).catch((err: unknown) => {
              s.fault?.(err);
              throw err;
            })
          ).map((e) => ({ nodeId: s.nodeId, ...isoTimes(e, ['storedAt', 'syncedAt']) })),
        ),
      ).then((perStore) => perStore.flat());
    }),
  );

  // Weighings received in a date range as CSV (from/to: dates or times, default the last 24 h;
  // device optional), oldest first, at most MAX_CSV_ROWS. Streamed a step of the table per turn
  // of the event loop, waiting for the browser when it reads slower: memory stays a step's rows.
  app.get('/carnitrack/events.csv', read, (req: Request, res: Response) => {
    const q = req.query as Record<string, string | undefined>;
    const range = csvRange(q.from, q.to, Date.now());
    if ('error' in range) {
      res.status(400).json({ error: range.error });
      return;
    }
    // One store per database file: two event-stores on one database hold the same rows.
    const stores = [...new Map([...live.stores.values()].map((e) => [e.part.db.name, e])).values()];
    res.status(200);
    res.set('Content-Type', 'text/csv; charset=utf-8');
    res.set('Content-Disposition', `attachment; filename="carnitrack-events-${range.from.slice(0, 10)}-to-${range.to.slice(0, 10)}.csv"`);
    // The byte-order mark tells spreadsheets the text is UTF-8 (Turkish product names).
    res.write('\ufeff' + CSV_HEADER);
    let gone = false;
    res.on('close', () => (gone = true));
    void (async () => {
      let left = MAX_CSV_ROWS;
      for (const e of stores) {
        for (const rows of e.part.log.receivedBetween(range.from, range.to, left)) {
          if (gone) return;
          left -= rows.length;
          const text = rows
            .filter((r) => q.device === undefined || r.deviceId === q.device)
            .map(csvLine)
            .join('');
          // A reader that goes away never drains: its close ends the wait too.
          if (text && !res.write(text))
            await new Promise<void>((resolve) => {
              res.once('drain', resolve);
              res.once('close', resolve);
            });
          else await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      res.end();
    })().catch((err: unknown) => {
      for (const e of stores) e.fault?.(err);
      res.destroy(err as Error); // the download ends broken, not as a silently short file
    });
  });

  // An online backup of a store's database now, into `backups/` in the Node-RED user directory.
  app.post(
    '/carnitrack/stores/:id/backup',
    write,
    json(async (req) => {
      const store = running('stores', req);
      const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
      return store.backup(path.join(userDir, 'backups', `carnitrack-${stamp}.db`));
    }),
  );

  app.get(
    '/carnitrack/batches',
    read,
    json(() =>
      [...live.stores.values()].flatMap((s) =>
        reading(s, (p) => p.batches.recent(100).map((b) => ({ ...isoTimes(b, ['startSentAt', 'endSentAt']), ...p.log.batchTotals(b.batchId) }))),
      ),
    ),
  );
}

/** Runs `read` on a live entry's part; a failure is told to its node (a disk fault closes and reopens the part), then thrown. */
function reading<T, R>(e: LiveEntry<T>, read: (part: T) => R): R {
  try {
    return read(e.part);
  } catch (err) {
    e.fault?.(err);
    throw err;
  }
}

/** What /metrics reports: one family per figure, labelled by node (and scale). */
export function edgeMetrics(): MetricFamily[] {
  const gateways = [...live.gateways.values()];
  const stores = [...live.stores.values()].map((s) => ({ entry: s, fig: s.part.quickFigures() }));
  const links = [...live.links.values()];
  const node = (e: { nodeId: string; name: string }): Record<string, string> => ({ node: e.name, node_id: e.nodeId });
  // Every known scale, connected or not; one that has not registered is named as the gateway names it.
  const devices = gateways.flatMap((g) => g.part.deviceViews().map((d) => ({ g, d: { ...d, deviceId: d.deviceId ?? `UNREGISTERED-${d.sourceIp}` } })));
  const now = Date.now();
  const gauge = (name: string, help: string, samples: Sample[], unit?: string): MetricFamily => ({ name, type: 'gauge', help, unit, samples });
  const counter = (name: string, help: string, samples: Sample[]): MetricFamily => ({ name, type: 'counter', help, samples });
  return [
    gauge(
      'carnitrack_scale_listener_up',
      'dp401-in is listening for scales (1) or not (0)',
      gateways.map((g) => ({ labels: { ...node(g), port: String(g.part.settings.port) }, value: g.part.isListening ? 1 : 0 })),
    ),
    gauge(
      'carnitrack_scales_connected',
      'Scale connections open now',
      gateways.map((g) => ({ labels: node(g), value: g.part.devices().length })),
    ),
    // No health label: a label that changes with the value would start a new series each time.
    gauge(
      'carnitrack_scale_online',
      'A known scale is online (1), or idle, stale or disconnected (0)',
      devices.map(({ g, d }) => ({ labels: { ...node(g), device: d.deviceId }, value: d.health === 'online' ? 1 : 0 })),
    ),
    gauge(
      'carnitrack_scale_last_seen_age_seconds',
      'Seconds since anything was last heard from each known scale (it grows while a scale is disconnected)',
      devices.map(({ g, d }) => ({ labels: { ...node(g), device: d.deviceId }, value: Math.max(0, Math.round((now - Date.parse(d.lastSeenAt)) / 1000)) })),
      'seconds',
    ),
    gauge(
      'carnitrack_scale_connected',
      'A known scale is connected (1) or not (0)',
      devices.map(({ g, d }) => ({ labels: { ...node(g), device: d.deviceId }, value: d.connectionId === null ? 0 : 1 })),
    ),
    // Only while two scales fight over an id (1 per address seen), so a dashboard can alert on it.
    gauge(
      'carnitrack_scale_id_conflict',
      'Two or more scales register with this id now: their weighings cannot be told apart',
      gateways.flatMap((g) =>
        g.part.idConflicts().map((c) => ({ labels: { ...node(g), device: c.deviceId, addresses: c.addresses.join(' ') }, value: c.addresses.length })),
      ),
    ),
    gauge(
      'carnitrack_scale_last_weight_grams',
      'Last net weight of each known scale',
      devices
        .filter(({ d }) => d.lastWeightGrams !== null)
        .map(({ g, d }) => ({ labels: { ...node(g), device: d.deviceId }, value: Number(d.lastWeightGrams) })),
      'grams',
    ),
    counter(
      'carnitrack_weighings',
      'Weighings received by dp401-in since it started',
      gateways.map((g) => ({ labels: node(g), value: g.part.counters.events })),
    ),
    counter(
      'carnitrack_weighing_duplicates',
      'Repeated weighings answered OK without a new event',
      gateways.map((g) => ({ labels: node(g), value: g.part.counters.duplicates })),
    ),
    counter(
      'carnitrack_lines_rejected',
      'Scale lines that could not be read',
      gateways.map((g) => ({ labels: node(g), value: g.part.counters.rejectedLines })),
    ),
    counter(
      'carnitrack_events_stored',
      'Events newly stored by event-store since it started',
      stores.map(({ entry }) => ({ labels: node(entry), value: entry.part.totals.stored })),
    ),
    counter(
      'carnitrack_events_delivered',
      'Events acknowledged by the Cloud since event-store started',
      stores.map(({ entry }) => ({ labels: node(entry), value: entry.part.totals.delivered })),
    ),
    counter(
      'carnitrack_events_rejected',
      'Events the Cloud rejected since event-store started',
      stores.map(({ entry }) => ({ labels: node(entry), value: entry.part.totals.failed })),
    ),
    gauge(
      'carnitrack_backlog_events',
      'Stored events not yet acknowledged by the Cloud',
      stores.map(({ entry, fig }) => ({ labels: node(entry), value: fig.pending })),
    ),
    gauge(
      'carnitrack_events_in_flight',
      'Events sent and waiting for their ack',
      stores.map(({ entry, fig }) => ({ labels: node(entry), value: fig.inFlight })),
    ),
    gauge(
      'carnitrack_events_failed',
      'Rejected events kept in the database (send retry_failed to event-store to resend them)',
      stores.map(({ entry, fig }) => ({ labels: node(entry), value: fig.failed })),
    ),
    gauge(
      'carnitrack_backlog_oldest_age_seconds',
      'Age of the oldest unacknowledged event (0 when none)',
      stores.map(({ entry, fig }) => ({ labels: node(entry), value: fig.oldestPendingAgeS ?? 0 })),
      'seconds',
    ),
    gauge(
      'carnitrack_database_bytes',
      'Site database size, WAL included',
      stores.map(({ entry, fig }) => ({ labels: node(entry), value: fig.databaseBytes })),
      'bytes',
    ),
    {
      name: 'carnitrack_ack_latency_seconds',
      type: 'summary',
      help: 'Time from sending an event to the Cloud to its ack',
      unit: 'seconds',
      samples: stores.map(({ entry }) => ({ labels: node(entry), count: entry.part.ackLatency.count, sum: entry.part.ackLatency.sumMs / 1000 })),
    },
    gauge(
      'carnitrack_cloud_connected',
      'cloud-link is connected to the Cloud (1) or not (0)',
      links.map((l) => ({ labels: node(l), value: l.part.isConnected ? 1 : 0 })),
    ),
    gauge(
      'carnitrack_cloud_connect_attempt',
      'Reconnect attempts since the link was last up',
      links.map((l) => ({ labels: node(l), value: l.part.currentStatus.attempt })),
    ),
    ...processMetrics(),
  ];
}
