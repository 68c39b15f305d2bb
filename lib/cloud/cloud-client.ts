import { EventEmitter } from 'node:events';
import WebSocket, { type ClientOptions } from 'ws';
import { Backoff } from './backoff';
import { ProtocolCodec } from '../protocol/codec';
import type { CloudToEdgeMessage, RegisterPayload } from '../protocol/messages';
import type { CloudStatus } from '../protocol/wire';
import { tcpProbe } from './probe';

/**
 * The Edge's WebSocket link to the CarniTrack Cloud, with no knowledge of Node-RED. One
 * socket at most; `register` first; WebSocket pings with a pong deadline (a half-open link
 * is terminated and replaced); reconnects after every close with backoff and jitter until
 * `stop()`. Timers are injectable so the backoff is tested on a hand-driven clock.
 */

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
}

export interface CloudClientOptions {
  url: string;
  apiKey: string;
  siteId: string;
  siteName: string;
  edgeId: string | null;
  version: string;
  capabilities: string[];
  keepAliveMs?: number;
  pongTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A connection up this long resets the backoff. */
  stableMs?: number;
  handshakeTimeoutMs?: number;
  maxFrameBytes?: number;
  tls?: TlsOptions;
  timers?: Timers;
  random?: () => number;
  /**
   * While a retry is further off than this, the Cloud's address is probed this often; when a
   * probe answers, the backoff is reset and the link reconnects after a jitter of at most
   * the minimum backoff. 0 turns probing off. Not after a refusal (401, 403, ...): the Cloud
   * is up then, and reconnecting sooner would only be refused sooner.
   */
  probeIntervalMs?: number;
  probe?: (url: string) => Promise<boolean>;
}

/** The link's state: defined with the `cloud_status` message that carries it to other nodes. */
export type { CloudStatus, LinkState } from '../protocol/wire';

export interface CloudClientEvents {
  status: [status: CloudStatus];
  /** A message from the Cloud that passed its schema, with its typed payload. */
  message: CloudToEdgeMessage;
  invalid: [reason: string, excerpt: string];
  'edge-id': [edgeId: string];
}

export class CloudClient extends EventEmitter<CloudClientEvents> {
  private ws: WebSocket | null = null;
  private readonly codec: ProtocolCodec;
  private readonly backoff: Backoff;
  private readonly timers: Timers;
  private reconnectTimer: unknown = null;
  private keepAliveTimer: unknown = null;
  private pongTimer: unknown = null;
  private stableTimer: unknown = null;
  private probeTimer: unknown = null;
  /** The last attempt reached the Cloud and was refused (an HTTP answer, not a network error). */
  private refused = false;
  private stopped = true;
  private status: CloudStatus;
  private lastReason: string | null = null;
  /** Sockets ever opened; a test reads it to prove there is never more than one live. */
  openedSockets = 0;

  constructor(private readonly o: CloudClientOptions) {
    super();
    this.codec = new ProtocolCodec(o.maxFrameBytes);
    this.backoff = new Backoff(o.minBackoffMs ?? 1000, o.maxBackoffMs ?? 60_000, o.random);
    this.timers = o.timers ?? realTimers;
    this.status = { connected: false, state: 'stopped', edgeId: o.edgeId, reason: null, attempt: 0, nextRetryMs: null };
  }

  get edgeId(): string | null {
    return this.status.edgeId;
  }

  get isConnected(): boolean {
    return this.status.connected;
  }

  get currentStatus(): CloudStatus {
    return { ...this.status };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Stops reconnecting and closes the socket; resolves when it is closed. */
  stop(): Promise<void> {
    this.stopped = true;
    this.stopProbing();
    this.clearTimers();
    this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    this.ws = null;
    this.setStatus({ connected: false, state: 'stopped', reason: 'stopped', nextRetryMs: null });
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => ws.terminate(), 2000);
      ws.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'edge stopping');
    });
  }

  /** Sends a protocol message; false when the link is down (nothing is queued here). */
  send(type: string, payload: Record<string, unknown>): boolean {
    const ws = this.ws;
    if (!ws || !this.status.connected || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(this.codec.encode(type, payload, this.status.edgeId, 'to-cloud'));
    return true;
  }

  private connect(): void {
    if (this.stopped || this.ws) return;
    this.setStatus({ connected: false, state: 'connecting', nextRetryMs: null });
    const headers: Record<string, string> = { Authorization: `Bearer ${this.o.apiKey}`, 'X-Site-Id': this.o.siteId };
    if (this.status.edgeId) headers['X-Edge-Id'] = this.status.edgeId;
    const maxFrame = this.o.maxFrameBytes ?? 1024 * 1024;
    const options: ClientOptions = {
      headers,
      handshakeTimeout: this.o.handshakeTimeoutMs ?? 10_000,
      // Frames over the protocol limit are refused one by one (the link stays); only a frame
      // this far over it closes the socket, to bound memory.
      maxPayload: maxFrame * 4,
      perMessageDeflate: false,
      ...this.o.tls,
    };
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.o.url, options);
    } catch (err) {
      this.lastReason = (err as Error).message;
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.openedSockets++;
    ws.on('open', () => this.opened(ws));
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.received(data, isBinary));
    ws.on('pong', () => {
      this.timers.clearTimeout(this.pongTimer);
      this.pongTimer = null;
    });
    ws.on('error', (err: Error & { code?: string }) => {
      this.lastReason = err.message;
      // ws words any HTTP answer to the upgrade (401, 403, 503...) this way: the Cloud is up.
      this.refused = /^Unexpected server response: \d+/.test(err.message);
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        // ws must hold a whole frame in memory, so past this size the link is closed (1009).
        this.emit('invalid', `frame over ${maxFrame * 4} bytes (4 x Max frame): the link was closed to bound memory and reconnects`, '');
        // ws would wait up to 30 s for the Cloud's closing handshake: drop the socket now.
        ws.terminate();
      }
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearTimers();
      if (!this.lastReason) this.lastReason = `closed by the Cloud (${code}${reason.length ? ' ' + reason.toString() : ''})`;
      if (!this.stopped) this.scheduleReconnect();
    });
  }

  private opened(ws: WebSocket): void {
    if (this.ws !== ws) return;
    this.lastReason = null;
    this.refused = false;
    this.stopProbing();
    const register: RegisterPayload = {
      edgeId: this.status.edgeId,
      siteId: this.o.siteId,
      siteName: this.o.siteName,
      version: this.o.version,
      capabilities: this.o.capabilities,
    };
    ws.send(this.codec.encode('register', register, this.status.edgeId, 'to-cloud'));
    this.setStatus({ connected: true, state: 'connected', reason: null, nextRetryMs: null, attempt: this.backoff.attempt });
    this.keepAliveTimer = this.timers.setInterval(() => this.keepAlive(ws), this.o.keepAliveMs ?? 30_000);
    this.stableTimer = this.timers.setTimeout(() => {
      this.backoff.reset();
      this.setStatus({ attempt: 0 });
    }, this.o.stableMs ?? 60_000);
  }

  private keepAlive(ws: WebSocket): void {
    if (this.pongTimer) return;
    try {
      ws.ping();
    } catch {
      return;
    }
    this.pongTimer = this.timers.setTimeout(() => {
      this.pongTimer = null;
      this.lastReason = `no pong within ${(this.o.pongTimeoutMs ?? 10_000) / 1000} s: link is half-open`;
      ws.terminate();
    }, this.o.pongTimeoutMs ?? 10_000);
  }

  private received(data: WebSocket.RawData, isBinary: boolean): void {
    const frame = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) {
      this.emit('invalid', 'binary frame (the protocol uses JSON text frames)', `${frame.length} bytes`);
      return;
    }
    const decoded = this.codec.decode(frame, 'to-edge');
    if (!decoded.ok) {
      this.emit('invalid', decoded.reason, frame.subarray(0, 200).toString('utf8'));
      return;
    }
    // The codec has checked the type is the Cloud's and the payload matches its schema.
    const message = [decoded.message.type, decoded.message.payload] as CloudToEdgeMessage;
    const [type, payload] = message;
    if (type === 'ping') {
      this.send('pong', {});
      return;
    }
    if ((type === 'registered' || type === 'config_update') && typeof payload.edgeId === 'string' && payload.edgeId !== this.status.edgeId) {
      this.setStatus({ edgeId: payload.edgeId });
      this.emit('edge-id', payload.edgeId);
    }
    this.emit('message', ...message);
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.backoff.next();
    this.setStatus({ connected: false, state: 'waiting', reason: this.lastReason, attempt: this.backoff.attempt, nextRetryMs: delay });
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      this.stopProbing();
      this.connect();
    }, delay);
    const every = this.o.probeIntervalMs ?? 1000;
    if (every > 0 && delay > every && !this.refused) this.probeSoon(every);
  }

  /** Connects now: resets the backoff (a person asked, or a probe found the Cloud back). */
  reconnectNow(jitterMs = 0): void {
    if (this.stopped || this.ws) return;
    this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.stopProbing();
    this.backoff.reset();
    if (jitterMs <= 0) {
      this.connect();
      return;
    }
    const delay = Math.round((this.o.random ?? Math.random)() * jitterMs);
    this.setStatus({ state: 'waiting', attempt: 0, nextRetryMs: delay });
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private probeSoon(every: number): void {
    this.probeTimer = this.timers.setTimeout(() => {
      this.probeTimer = null;
      if (this.stopped || this.ws || !this.reconnectTimer) return;
      (this.o.probe ?? tcpProbe)(this.o.url).then(
        (up) => {
          if (this.stopped || this.ws || !this.reconnectTimer) return;
          // The jitter stays: gateways that saw the same outage do not all come back at once.
          if (up) this.reconnectNow(this.o.minBackoffMs ?? 1000);
          else this.probeSoon(every);
        },
        () => this.probeSoon(every),
      );
    }, every);
  }

  private stopProbing(): void {
    this.timers.clearTimeout(this.probeTimer);
    this.probeTimer = null;
  }

  private clearTimers(): void {
    this.timers.clearInterval(this.keepAliveTimer);
    this.timers.clearTimeout(this.pongTimer);
    this.timers.clearTimeout(this.stableTimer);
    this.keepAliveTimer = this.pongTimer = this.stableTimer = null;
  }

  private setStatus(change: Partial<CloudStatus>): void {
    const next = { ...this.status, ...change };
    const changed = (Object.keys(next) as Array<keyof CloudStatus>).some((k) => next[k] !== this.status[k]);
    this.status = next;
    if (changed) this.emit('status', { ...next });
  }
}
