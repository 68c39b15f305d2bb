import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import WebSocket, { WebSocketServer } from 'ws';
import { ProtocolCodec } from '../lib/protocol/codec';
import type { EventPayload } from '../lib/protocol/messages';

/**
 * A runnable CarniTrack Cloud that speaks protocol v3.0: the counterpart of cloud-link in
 * tests, the demo and benchmarks, and a living spec for the Cloud team. It validates every
 * Edge message against the shared schemas, checks the API key, assigns edge ids,
 * acknowledges events (`duplicate` for a localEventId it already has), records batches,
 * pushes sessions, and keeps everything it received (in memory, and as JSONL when given a
 * file). Fault switches let tests break it on purpose.
 *
 * HTTP control API on the same port: GET /api/state, POST /api/sessions/start|end|pause|resume,
 * POST /api/faults (JSON bodies).
 */

export interface SessionFields {
  cloudSessionId?: string;
  deviceId: string;
  animalId?: string;
  animalTag?: string;
  animalSpecies?: string;
  operatorId?: string;
}

export interface Faults {
  /** Reject events whose PLU or device matches, with this reason. */
  reject?: { pluCode?: string; deviceId?: string; reason: string } | null;
  /** Delay every ack by this many milliseconds. */
  ackDelayMs?: number;
  /** Do not answer WebSocket pings (a half-open link, seen from the Edge). */
  silent?: boolean;
  /** Refuse new connections (HTTP 503) until this time (ms since epoch). */
  refuseUntil?: number;
}

export interface ReceivedMessage {
  at: string;
  edgeId: string | null;
  type: string;
  payload: Record<string, unknown>;
}

export interface ReferenceCloudOptions {
  port?: number;
  host?: string;
  /** Accepted API keys; empty accepts any key (still requires the header). */
  apiKeys?: string[];
  dataFile?: string;
  maxFrameBytes?: number;
  path?: string;
  /** Serve wss:// with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

interface EdgeConnection {
  ws: WebSocket;
  edgeId: string | null;
  siteId: string | null;
}

export class ReferenceCloud {
  readonly received: ReceivedMessage[] = [];
  readonly invalid: Array<{ reason: string; type?: string }> = [];
  /** Every event once, by localEventId. */
  readonly events = new Map<string, { cloudEventId: string; edgeId: string | null; payload: EventPayload; count: number }>();
  readonly batches = new Map<string, { start?: Record<string, unknown>; end?: Record<string, unknown> }>();
  readonly sessions = new Map<string, Required<Pick<SessionFields, 'cloudSessionId' | 'deviceId'>> & SessionFields & { status: 'active' | 'paused' }>();
  readonly edgeIds = new Set<string>();
  faults: Faults = {};
  /** Connections accepted so far (tests check "never two live sockets"). */
  connectionsAccepted = 0;
  private readonly codec: ProtocolCodec;
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly conns = new Set<EdgeConnection>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: ReferenceCloudOptions = {}) {
    this.codec = new ProtocolCodec(o.maxFrameBytes);
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.control(req, res);
    this.server = o.tls ? https.createServer({ key: o.tls.key, cert: o.tls.cert }, handler) : http.createServer(handler);
    this.wss = new WebSocketServer({
      noServer: true,
      autoPong: false,
      maxPayload: (o.maxFrameBytes ?? 1024 * 1024) * 4,
    });
    this.server.on('upgrade', (req, socket, head) => {
      // The socket is ours from here: an edge that resets it after a refusal (ECONNRESET) must
      // not become an uncaught error in whoever runs this Cloud (it did, once, in a test run).
      socket.on('error', () => socket.destroy());
      const url = new URL(req.url ?? '/', 'http://cloud');
      const refuse = (code: number, text: string): void => {
        socket.end(`HTTP/1.1 ${code} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      };
      if (o.path && url.pathname !== o.path) return refuse(404, 'Not Found');
      if (this.faults.refuseUntil && Date.now() < this.faults.refuseUntil) return refuse(503, 'Service Unavailable');
      const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
      if (!auth || (o.apiKeys?.length && !o.apiKeys.includes(auth[1]))) return refuse(401, 'Unauthorized');
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
    });
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `${this.o.tls ? 'wss' : 'ws'}://127.0.0.1:${a.port}${this.o.path ?? '/edge'}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Live Edge connections. */
  get connections(): number {
    return this.conns.size;
  }

  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => resolve(this.port));
    });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.conns) c.ws.terminate();
    this.conns.clear();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }

  /** Drops every Edge connection (the Edge must reconnect). */
  dropConnections(): void {
    for (const c of this.conns) c.ws.terminate();
  }

  /** Closes every Edge connection cleanly (code 1001). */
  closeConnections(): void {
    for (const c of this.conns) c.ws.close(1001, 'cloud going away');
  }

  /** Sends a raw frame to every Edge (tests of malformed input). */
  sendRaw(frame: string | Buffer, binary = false): void {
    for (const c of this.conns) c.ws.send(frame, { binary });
  }

  startSession(fields: SessionFields): string {
    const s = { ...fields, cloudSessionId: fields.cloudSessionId ?? `session-${randomUUID()}`, status: 'active' as const };
    this.sessions.set(s.deviceId, s);
    this.broadcast('session_started', { ...s });
    return s.cloudSessionId;
  }

  endSession(deviceId: string, reason = 'completed'): void {
    const s = this.sessions.get(deviceId);
    if (!s) return;
    this.sessions.delete(deviceId);
    this.broadcast('session_ended', { cloudSessionId: s.cloudSessionId, deviceId, reason });
  }

  setSessionPaused(deviceId: string, paused: boolean): void {
    const s = this.sessions.get(deviceId);
    if (!s) return;
    s.status = paused ? 'paused' : 'active';
    this.broadcast(paused ? 'session_paused' : 'session_resumed', { cloudSessionId: s.cloudSessionId, deviceId });
  }

  broadcast(type: string, payload: Record<string, unknown>): void {
    for (const c of this.conns) this.send(c, type, payload);
  }

  private send(c: EdgeConnection, type: string, payload: Record<string, unknown>): void {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    c.ws.send(this.codec.encode(type, payload, c.edgeId, 'to-edge', true));
  }

  private accept(ws: WebSocket, req: http.IncomingMessage): void {
    this.connectionsAccepted++;
    const c: EdgeConnection = {
      ws,
      edgeId: (req.headers['x-edge-id'] as string | undefined) ?? null,
      siteId: (req.headers['x-site-id'] as string | undefined) ?? null,
    };
    this.conns.add(c);
    ws.on('ping', (data: Buffer) => {
      if (!this.faults.silent) ws.pong(data);
    });
    ws.on('message', (data: WebSocket.RawData) => this.handle(c, Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)));
    ws.on('close', () => this.conns.delete(c));
    ws.on('error', () => this.conns.delete(c));
  }

  private record(c: EdgeConnection, type: string, payload: Record<string, unknown>): void {
    const m: ReceivedMessage = { at: new Date().toISOString(), edgeId: c.edgeId, type, payload };
    this.received.push(m);
    if (this.o.dataFile) fs.appendFileSync(this.o.dataFile, JSON.stringify(m) + '\n');
  }

  private handle(c: EdgeConnection, frame: Buffer): void {
    const d = this.codec.decode(frame, 'to-cloud');
    if (!d.ok) {
      this.invalid.push({ reason: d.reason, type: d.type });
      this.send(c, 'error', { reason: d.reason, messageType: d.type ?? null });
      return;
    }
    const { type, payload } = d.message;
    this.record(c, type, payload);
    switch (type) {
      case 'register': {
        const asked = typeof payload.edgeId === 'string' ? payload.edgeId : null;
        const edgeId = asked && this.edgeIds.has(asked) ? asked : `edge-${randomUUID()}`;
        this.edgeIds.add(edgeId);
        c.edgeId = edgeId;
        c.siteId = typeof payload.siteId === 'string' ? payload.siteId : c.siteId;
        this.send(c, 'registered', { edgeId, siteId: c.siteId });
        // Active sessions on every (re)connect.
        for (const s of this.sessions.values()) {
          this.send(c, 'session_started', { ...s });
          if (s.status === 'paused') this.send(c, 'session_paused', { cloudSessionId: s.cloudSessionId, deviceId: s.deviceId });
        }
        break;
      }
      case 'event':
        this.acceptEvent(c, payload as unknown as EventPayload);
        break;
      case 'event_batch':
        for (const e of payload.events as EventPayload[]) this.acceptEvent(c, e);
        break;
      case 'offline_batch_start':
      case 'offline_batch_end': {
        const id = String(payload.batchId);
        const b = this.batches.get(id) ?? {};
        if (type === 'offline_batch_start') b.start = payload;
        else b.end = payload;
        this.batches.set(id, b);
        break;
      }
      case 'ping':
        this.send(c, 'pong', {});
        break;
      default:
        break;
    }
  }

  private acceptEvent(c: EdgeConnection, e: EventPayload): void {
    const reply = (type: string, payload: Record<string, unknown>): void => {
      const delay = this.faults.ackDelayMs ?? 0;
      if (delay <= 0) return this.send(c, type, payload);
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.send(c, type, payload);
      }, delay);
      this.timers.add(t);
    };
    const known = this.events.get(e.localEventId);
    if (known) {
      known.count++;
      return reply('event_ack', { localEventId: e.localEventId, cloudEventId: known.cloudEventId, status: 'duplicate' });
    }
    const rule = this.faults.reject;
    if (rule && (rule.pluCode === undefined || rule.pluCode === e.pluCode) && (rule.deviceId === undefined || rule.deviceId === e.deviceId)) {
      return reply('event_rejected', { localEventId: e.localEventId, reason: rule.reason });
    }
    const cloudEventId = `cloud-${randomUUID()}`;
    this.events.set(e.localEventId, { cloudEventId, edgeId: c.edgeId, payload: e, count: 1 });
    reply('event_ack', { localEventId: e.localEventId, cloudEventId, status: 'accepted' });
  }

  private async control(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const json = (code: number, body: unknown): void => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const url = new URL(req.url ?? '/', 'http://cloud');
      let body: Record<string, unknown> = {};
      if (req.method === 'POST') {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of req) {
          size += (chunk as Buffer).length;
          if (size > 64 * 1024) return json(413, { error: 'body too large' });
          chunks.push(chunk as Buffer);
        }
        body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
      }
      const route = `${req.method} ${url.pathname}`;
      switch (route) {
        case 'GET /api/state':
          return json(200, {
            connections: this.connections,
            edgeIds: [...this.edgeIds],
            events: this.events.size,
            batches: Object.fromEntries(this.batches),
            sessions: [...this.sessions.values()],
            invalid: this.invalid.length,
          });
        case 'GET /api/events':
          return json(
            200,
            [...this.events.values()].map((e) => ({ cloudEventId: e.cloudEventId, count: e.count, ...e.payload })),
          );
        case 'POST /api/sessions/start':
          if (typeof body.deviceId !== 'string') return json(400, { error: 'deviceId is required' });
          return json(200, { cloudSessionId: this.startSession(body as unknown as SessionFields) });
        case 'POST /api/sessions/end':
          this.endSession(String(body.deviceId), typeof body.reason === 'string' ? body.reason : 'completed');
          return json(200, {});
        case 'POST /api/sessions/pause':
        case 'POST /api/sessions/resume':
          this.setSessionPaused(String(body.deviceId), route.endsWith('pause'));
          return json(200, {});
        case 'POST /api/faults':
          this.faults = { ...this.faults, ...(body as Faults) };
          if (body.drop) this.dropConnections();
          return json(200, this.faults);
        default:
          return json(404, { error: `no route ${route}` });
      }
    } catch (err) {
      json(400, { error: (err as Error).message });
    }
  }
}
