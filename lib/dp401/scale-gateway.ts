import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Dp401Framer, type Packet } from './framer';
import { parseWeighingLine } from './weighing-line';
import { buildWeighingEvent, type WeighingEvent } from './weighing-event';
import { DuplicateFilter } from './duplicate-filter';
import { IdConflicts, type IdConflict } from './id-conflicts';
import { DeviceRegistry, type DeviceRecord, type DeviceHealth, type HealthChange } from './device-registry';
import type { DeviceConnectedPayload, DeviceDisconnectedPayload, DeviceHeartbeatPayload } from '../protocol/messages';
import { allowListMatcher, normalizeAddress, type Dp401Settings } from './settings';
import { systemClock, wallIso, type Clock } from '../util/clock';
import { WarningLimiter } from '../util/warning-limiter';
import { TokenBucket } from './token-bucket';
import { KnownScales, MAX_KNOWN_SCALES } from './known-scales';
import { CoalescedSave } from '../util/coalesced-save';
import * as fs from 'node:fs';

/**
 * The TCP server DP-401 scales connect to, with no knowledge of Node-RED: it frames and
 * parses what the scales send, keeps the device registry, answers `OK\n`, and reports
 * everything as events. The dp401-in node is a thin adapter over this class.
 */

export type DeviceTopic = DeviceMessage[0];

/**
 * What dp401-in tells the flow about a scale. The first three go on to the Cloud as they are
 * (their payloads are the protocol's, with the gateway's extra fields); the last two are for the
 * flow only.
 */
export type DeviceMessage =
  | [topic: 'device_connected', payload: DeviceConnectedPayload & { sourceIp: string; connectedAt: string }]
  | [topic: 'device_disconnected', payload: DeviceDisconnectedPayload & { sourceIp: string }]
  | [topic: 'device_heartbeat', payload: DeviceHeartbeatPayload & { sourceIp: string }]
  | [topic: 'device_status', payload: { deviceId: string; status: DeviceHealth; previousStatus: DeviceHealth; sourceIp: string | undefined; timestamp: string }]
  | [
      topic: 'duplicate_suppressed',
      payload: {
        deviceId: string;
        pluCode: string;
        weightGrams: number;
        tareGrams: number;
        originalEventId: string;
        secondsAfterOriginal: number;
        raw: string;
        sourceIp: string;
        receivedAt: string;
      },
    ];

export type DisconnectReason =
  | 'closed-by-scale'
  | 'replaced'
  | 'heartbeat-timeout'
  | 'requested'
  | 'socket-error'
  /** Neither `SCALE-NN`, an address-map entry nor a weighing within the registration deadline. */
  | 'registration-timeout'
  /** All slots were taken: the oldest socket that never identified itself made room. */
  | 'evicted';

export interface LineRejected {
  error: string;
  raw: string;
  deviceId: string | null;
  sourceIp: string;
}

export interface GatewayWarning {
  code:
    | 'junk'
    | 'overflow'
    | 'unregistered'
    | 'id-conflict'
    | 'refused'
    | 'evicted'
    | 'registration-timeout'
    | 'bad-register'
    | 'ack-unknown'
    | 'ack-backlog'
    /** The known-scales file could not be read or written. */
    | 'known-scales'
    /** Reading stopped: one scale, or all of them, have too many weighings waiting for OK. */
    | 'paused';
  message: string;
  deviceId?: string | null;
  sourceIp?: string;
}

export interface GatewayEvents {
  event: [event: WeighingEvent, sessionId: string];
  device: DeviceMessage;
  'line-rejected': [info: LineRejected];
  warning: [warning: GatewayWarning];
  /** A line for the log (a scale connected or disconnected), at most one per scale and kind a minute. */
  info: [message: string];
  listening: [address: net.AddressInfo];
  'bind-error': [error: NodeJS.ErrnoException, retryInMs: number];
  change: [];
}

/**
 * A scale as admin views show it, connected or not (every known scale): times as wall-clock ISO
 * strings. A disconnected scale has no connection and no counts, and keeps its last figures.
 */
export interface DeviceView {
  connectionId: string | null;
  deviceId: string | null;
  /** The address of its connection, or of its last one. */
  sourceIp: string;
  health: DeviceHealth;
  /** Since when `health` holds. */
  since: string;
  /** When anything was last heard from it. */
  lastSeenAt: string;
  connectedAt: string;
  disconnectedAt: string | null;
  /** Why its last connection closed (`gateway-stopped` when the gateway stopped or restarted). */
  disconnectReason: string | null;
  /** Disconnected longer than the node's "Missing after": a problem. */
  missing: boolean;
  lastHeartbeatAt: string | null;
  lastWeighingAt: string | null;
  lastWeightGrams: number | null;
  /** Of its current connection; null while disconnected. */
  heartbeatCount: number | null;
  eventCount: number | null;
  duplicateCount: number | null;
  /** The addresses registering as this scale's id while two scales fight over it, else null. */
  idConflict: string[] | null;
  /** Seconds the oldest weighing of this scale has waited for the store's OK; null when none waits. */
  waitingForOkS: number | null;
}

export interface GatewayOptions {
  /** Wall clock for timestamps, monotonic clock for every interval (tests inject both). */
  clock?: Clock;
  healthIntervalMs?: number;
  /** Weighings awaiting the store's acknowledgement, at most (oldest forgotten first). */
  maxPendingAcks?: number;
  /** A scale's socket is no longer read while this many of its weighings wait for OK. */
  maxWaitingPerScale?: number;
  /** No scale's socket is read while this many weighings in all wait for OK; reading resumes at half. */
  maxWaitingTotal?: number;
  /** New connections taken at once (default twice max connections, at least 64)... */
  acceptBurst?: number;
  /** ...and a second after that (default max connections, at least 16); the rest are refused. */
  acceptsPerSecond?: number;
  /** Where the known scales are kept across restarts; none: in memory only. */
  knownScalesFile?: string | null;
  /** Known scales, at most (the one gone longest is dropped first). */
  maxKnownScales?: number;
  /** A connect or disconnect is saved within this many ms (default 2 s), one write for a burst. */
  saveDelayMs?: number;
}

/** A scale that is disconnected longer than the node's "Missing after". */
export interface MissingScale {
  deviceId: string;
  address: string;
  /** How long it has been disconnected while this gateway ran (ms). */
  forMs: number;
}

/**
 * A DP-401 sends its next weighing only after the OK for the last one: a real scale has one,
 * at most two (a resend) waiting. Eight leaves room for that and for duplicates, and stops a
 * client that writes without reading OKs from queueing more than eight weighings in the flow.
 */
export const MAX_WAITING_PER_SCALE = 8;
/**
 * The flow holds at most this many weighings between dp401-in and the store's OK (a few KiB
 * each in Node-RED messages: a few MiB). The 100-scale closed loop has at most 100 waiting,
 * and the store commits in groups of a few hundred at most, so this never slows it.
 */
export const MAX_WAITING_TOTAL = 1000;

interface Connection {
  id: string;
  socket: net.Socket;
  /** Made at the first bytes: a socket that never sends (a flood, a port scan) costs none. */
  framer: Dp401Framer | null;
  sourceIp: string;
  closeReason: DisconnectReason | null;
  warnedUnregistered: boolean;
  /** Registered, address-mapped or sent a weighing: a scale, not a stray socket. */
  identified: boolean;
  /** Monotonic time of accept, for the registration deadline. */
  acceptedAt: number;
  /** Its weighings (originals and duplicates) waiting for the store's OK. */
  waiting: number;
  /** We stopped reading its socket (flow control): its silence is ours, not the scale's. */
  paused: boolean;
  /** Monotonic time up to which the pause has been credited to its health and deadline. */
  pausedAt: number;
  /** Packets framed from a chunk but not yet handled because a bound was reached (in order). */
  held: Packet[] | null;
  heldFrom: number;
  /** Its packets are being handled right now (settling it again must wait). */
  running: boolean;
}

interface PendingAck {
  connectionId: string;
  /** Connections whose duplicates of this weighing also wait for its OK, one entry each. */
  duplicateWaiters: string[];
  since: number;
}

/** A weighing waiting longer than this for the store's OK is late: the node status and the tab say so. */
export const OK_LATE_MS = 10_000;

const OK = Buffer.from('OK\n', 'latin1');
const WARNING_WINDOW_MS = 60_000;
const BIND_RETRY_MIN_MS = 1000;
const BIND_RETRY_MAX_MS = 30_000;

export class ScaleGateway extends EventEmitter<GatewayEvents> {
  readonly registry: DeviceRegistry;
  /** Every scale seen, connected or not (bounded; saved on connect, disconnect, forget and stop). */
  readonly known: KnownScales;
  private readonly saver: CoalescedSave | null;
  /** Connect and disconnect log lines: one per scale and kind a minute (a flapping scale is counted). */
  private readonly notes = new WarningLimiter(WARNING_WINDOW_MS);
  /** Monotonic time of start(): a scale gone before it is counted missing from then on. */
  private startedAt = 0;
  private missingCount = 0;
  private readonly server: net.Server;
  private readonly connections = new Map<string, Connection>();
  private readonly duplicates: DuplicateFilter;
  private readonly pendingAcks = new Map<string, PendingAck>();
  /** Connections whose device id moved to a newer socket: connection id -> device id. */
  private readonly replacedIds = new Map<string, string>();
  /** Ids two scales fight over (see IdConflicts); their take-overs are not reported to the flow. */
  private readonly conflicts = new IdConflicts();
  /** Sockets that lost their id in such a conflict: their close is not reported either. */
  private readonly quietCloses = new Set<string>();
  private readonly allowed: (address: string) => boolean;
  private readonly clock: Clock;
  private readonly warnings = new WarningLimiter(WARNING_WINDOW_MS);
  private readonly prefix = randomBytes(3).toString('hex');
  private nextConnection = 1;
  private healthTimer: NodeJS.Timeout | null = null;
  private bindTimer: NodeJS.Timeout | null = null;
  private bindAttempts = 0;
  private stopped = false;
  /** Too many weighings wait for OK in all: no socket is read until half of them are answered. */
  private blocked = false;
  /** Connections whose socket we paused, in the order they were paused (fair resumption). */
  private readonly pausedConns = new Set<Connection>();
  private readonly maxPerScale: number;
  private readonly maxTotal: number;
  /** New connections, in all: a connect flood is refused, the connected scales are not touched. */
  private readonly accepts: TokenBucket;
  /** The accept budget is spent: Node closes new connections before making sockets of them. */
  private dropping = false;
  private listening = false;
  /** A listen() is in progress: the port may be bound any moment. */
  private binding = false;
  /** Counters a person watching the node wants to see. */
  readonly counters = { events: 0, duplicates: 0, rejectedLines: 0, refusedConnections: 0 };
  lastEvent: WeighingEvent | null = null;
  /** Why the port could not be bound, until it is. */
  lastBindError: NodeJS.ErrnoException | null = null;

  constructor(
    readonly settings: Dp401Settings,
    private readonly options: GatewayOptions = {},
  ) {
    super();
    this.clock = options.clock ?? systemClock;
    this.maxPerScale = Math.max(1, options.maxWaitingPerScale ?? MAX_WAITING_PER_SCALE);
    this.maxTotal = Math.max(1, options.maxWaitingTotal ?? MAX_WAITING_TOTAL);
    this.accepts = new TokenBucket(
      options.acceptBurst ?? Math.max(64, 2 * settings.maxConnections),
      options.acceptsPerSecond ?? Math.max(16, settings.maxConnections),
      this.clock.mono(),
    );
    this.registry = new DeviceRegistry(settings);
    this.known = new KnownScales(options.maxKnownScales ?? MAX_KNOWN_SCALES);
    const file = options.knownScalesFile;
    this.saver = file
      ? new CoalescedSave(
          file,
          options.saveDelayMs ?? 2000,
          () => this.known.serialize(this.clock, (id) => this.registry.connectionOf(id)),
          (err) =>
            this.warn({
              code: 'known-scales',
              message: `cannot save the known scales to ${file}: ${err.message} (kept in memory; tried again at the next change)`,
            }),
        )
      : null;
    this.duplicates = new DuplicateFilter(settings.duplicateWindowMs);
    this.allowed = allowListMatcher(settings.allowedSources);
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', (err: NodeJS.ErrnoException) => this.bindFailed(err));
    // Closed by Node (server.maxConnections, set while the accept budget is spent): no socket was made.
    this.server.on('drop', (data?: { remoteAddress?: string }) => this.refuseFlood(normalizeAddress(data?.remoteAddress ?? '?')));
    this.server.on('listening', () => {
      this.binding = false;
      this.listening = true;
      this.bindAttempts = 0;
      this.lastBindError = null;
      this.emit('listening', this.server.address() as net.AddressInfo);
      this.emit('change');
    });
  }

  /** Starts listening; a port in use is retried on a backoff, never thrown. */
  start(): void {
    this.stopped = false;
    this.startedAt = this.clock.mono();
    this.loadKnown();
    this.bind();
    const interval = this.options.healthIntervalMs ?? 1000;
    this.healthTimer = setInterval(() => this.tick(), interval);
  }

  get isListening(): boolean {
    return this.listening;
  }

  get pendingAckCount(): number {
    return this.pendingAcks.size;
  }

  /** No scale socket is read: the store is behind (too many weighings wait for its OK). */
  get readingPaused(): boolean {
    return this.blocked;
  }

  /** Sockets not being read right now (flow control), whether for their own backlog or the store's. */
  get pausedSocketCount(): number {
    return this.pausedConns.size;
  }

  /** Age of the oldest weighing still waiting for the store's acknowledgement. */
  oldestPendingAckMs(): number {
    const first = this.pendingAcks.values().next().value;
    return first ? this.clock.mono() - first.since : 0;
  }

  /** Stops everything; resolves once the port is free and every socket is destroyed. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.bindTimer) clearTimeout(this.bindTimer);
    this.healthTimer = this.bindTimer = null;
    // Every connected scale is gone from now on, as the saved known scales will say.
    const now = this.clock.mono();
    for (const d of this.registry.devices()) if (d.deviceId !== null) this.known.disconnected(d.deviceId, d, 'gateway-stopped', now);
    this.saver?.schedule();
    const saved = this.saver ? this.saver.close() : Promise.resolve();
    for (const c of this.connections.values()) c.socket.destroy();
    this.connections.clear();
    this.pendingAcks.clear();
    this.pausedConns.clear();
    this.blocked = false;
    this.removeAllListeners();
    const closed = new Promise<void>((resolve) => {
      const close = (): void => {
        if (this.server.listening) this.server.close(() => resolve());
        else resolve();
      };
      // A listen still in progress would bind the port after we return: wait for it.
      if (this.binding) {
        this.server.once('listening', close);
        this.server.once('error', close);
      } else close();
    });
    return Promise.all([closed, saved]).then(() => undefined);
  }

  /**
   * The store has the weighing: send `OK\n` for it (and for its duplicates) to the scale.
   * Returns false when the connection is gone; the event itself is safe either way.
   */
  acknowledge(sessionId: string, localEventId?: string): boolean {
    let connectionId = sessionId;
    let waiters: string[] = [];
    // Without an id, the ack answers the connection's oldest waiting weighing.
    const key = localEventId ?? this.oldestPendingOf(sessionId);
    const pending = key === undefined ? undefined : this.pendingAcks.get(key);
    if (pending && key !== undefined) {
      this.pendingAcks.delete(key);
      waiters = pending.duplicateWaiters;
      connectionId = pending.connectionId;
    }
    for (const w of waiters) this.writeOk(w);
    const sent = this.writeOk(connectionId);
    if (pending) this.released(pending);
    if (!sent) {
      this.warn({
        code: 'ack-unknown',
        message: `cannot send OK for ${localEventId ?? 'a weighing'}: connection ${sessionId} is closed (the event is stored; the scale may resend it)`,
      });
    }
    this.emit('change');
    return sent;
  }

  /**
   * The store could not keep this weighing (disk full, database error): no `OK` goes out,
   * and the weighing is forgotten so that the scale's resend is stored as new.
   */
  notStored(localEventId: string): boolean {
    this.duplicates.forget(localEventId);
    const pending = this.pendingAcks.get(localEventId);
    this.pendingAcks.delete(localEventId);
    if (pending) this.released(pending);
    this.emit('change');
    return pending !== undefined;
  }

  private oldestPendingOf(connectionId: string): string | undefined {
    for (const [eventId, p] of this.pendingAcks) if (p.connectionId === connectionId) return eventId;
    return undefined;
  }

  /**
   * A weighing no longer waits for OK (answered, refused or forgotten): its scale, and the
   * scales of its duplicates, may be read again, and all of them once the store has caught up.
   */
  private released(p: PendingAck): void {
    const conns = [p.connectionId, ...p.duplicateWaiters];
    for (const id of conns) {
      const c = this.connections.get(id);
      if (c && c.waiting > 0) c.waiting--;
    }
    const now = this.clock.mono();
    if (this.blocked && this.pendingAcks.size <= this.maxTotal / 2) {
      this.blocked = false;
      this.emit('change');
      // In the order they were paused; one that fills the bound again stops the round.
      for (const c of [...this.pausedConns]) this.settle(c, now);
      return;
    }
    for (const id of conns) {
      const c = this.connections.get(id);
      if (c) this.settle(c, now);
    }
  }

  /** May this connection's next weighing be taken now? Not with too many waiting for OK. */
  private mustWait(conn: Connection): boolean {
    return this.settings.ackMode === 'store' && (this.blocked || conn.waiting >= this.maxPerScale);
  }

  private pause(conn: Connection, now: number): void {
    if (conn.paused) return;
    conn.paused = true;
    conn.pausedAt = now;
    this.pausedConns.add(conn);
    // The kernel's buffer fills and TCP makes the scale wait: nothing is read, nothing dropped.
    conn.socket.pause();
  }

  /** Takes a paused connection's held packets and reads its socket again, if the bounds allow. */
  private settle(conn: Connection, now: number): void {
    if (!conn.paused || conn.running || conn.closeReason !== null || conn.socket.destroyed) return;
    if (this.mustWait(conn)) return;
    if (conn.held) {
      const { held, heldFrom } = conn;
      conn.held = null;
      this.run(conn, held, heldFrom, now);
      if (!conn.paused || conn.held || this.mustWait(conn)) return;
    }
    this.credit(conn, now);
    conn.paused = false;
    this.pausedConns.delete(conn);
    conn.socket.resume();
  }

  /**
   * While we do not read a socket, the scale's heartbeats wait in it: the time paused counts
   * as heard (health) and as not yet elapsed (registration deadline), never as silence.
   */
  private credit(conn: Connection, now: number): void {
    const d = now - conn.pausedAt;
    conn.pausedAt = now;
    if (!(d > 0)) return;
    conn.acceptedAt = Math.min(now, conn.acceptedAt + d);
    const rec = this.registry.get(conn.id);
    if (rec) rec.lastHeardAt = Math.min(now, rec.lastHeardAt + d);
  }

  /** Stops reading every socket: the store is behind. */
  private block(now: number): void {
    this.blocked = true;
    for (const c of this.connections.values()) if (c.closeReason === null) this.pause(c, now);
    this.warn({
      code: 'paused',
      message: `stopped reading all ${this.connections.size} scale socket(s): ${this.pendingAcks.size} weighings wait for the store's OK (the store is behind, or its "stored" output is not wired back to dp401-in); the scales wait, nothing is lost; reading resumes at ${Math.floor(this.maxTotal / 2)}`,
    });
    this.emit('change');
  }

  private writeOk(connectionId: string): boolean {
    const conn = this.connections.get(connectionId);
    if (!conn || conn.socket.destroyed) return false;
    conn.socket.write(OK);
    return true;
  }

  /** Emits a warning, at most one line per cause per minute (the rest counted in it). */
  private warn(w: GatewayWarning, cause: string = w.code): void {
    const line = this.warnings.offer(cause, w.message, this.clock.mono());
    if (line) this.emit('warning', { ...w, message: line.message });
  }

  /** Closes the socket of a device (by id) or of a connection (by session id). */
  disconnect(target: string, reason: DisconnectReason = 'requested'): boolean {
    const rec = this.registry.connectionOf(target) ?? this.registry.get(target);
    const conn = rec ? this.connections.get(rec.connectionId) : undefined;
    if (!conn) return false;
    this.close(conn, reason);
    return true;
  }

  private bind(): void {
    if (this.stopped) return;
    this.binding = true;
    this.server.listen({ port: this.settings.port, host: this.settings.bindAddress, exclusive: true });
  }

  private bindFailed(err: NodeJS.ErrnoException): void {
    this.binding = false;
    if (this.stopped) return;
    this.listening = false;
    this.lastBindError = err;
    const retryInMs = Math.min(BIND_RETRY_MAX_MS, BIND_RETRY_MIN_MS * 2 ** this.bindAttempts);
    this.bindAttempts++;
    this.emit('bind-error', err, retryInMs);
    this.emit('change');
    this.bindTimer = setTimeout(() => {
      this.bindTimer = null;
      this.bind();
    }, retryInMs);
  }

  private accept(socket: net.Socket): void {
    const sourceIp = normalizeAddress(socket.remoteAddress ?? '');
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (!this.accepts.take(this.clock.mono())) {
      socket.destroy();
      this.refuseFlood(sourceIp);
      if (!this.dropping) {
        // Until the budget refills (the health timer checks), Node closes new connections itself:
        // a flood then costs no socket objects, timers or buffers here. Connected scales go on.
        this.dropping = true;
        this.server.maxConnections = 1;
      }
      return;
    }
    if (!this.allowed(sourceIp)) {
      this.refuse(socket, sourceIp, `connection from ${sourceIp} refused: not in the allowed sources`);
      return;
    }
    if (this.connections.size >= this.settings.maxConnections && !this.evictStray()) {
      this.refuse(
        socket,
        sourceIp,
        `connection from ${sourceIp} refused: ${this.settings.maxConnections} connections already open (max connections), every one a scale`,
      );
      return;
    }
    const id = `${this.prefix}-${this.nextConnection++}`;
    const now = this.clock.mono();
    const conn: Connection = {
      id,
      socket,
      framer: null,
      sourceIp,
      closeReason: null,
      warnedUnregistered: false,
      identified: this.settings.addressMap.has(sourceIp),
      acceptedAt: now,
      waiting: 0,
      paused: false,
      pausedAt: now,
      held: null,
      heldFrom: 0,
      running: false,
    };
    this.connections.set(id, conn);
    this.registry.connect(id, sourceIp, now);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 15_000);
    socket.on('data', (chunk: Buffer) => this.receive(conn, chunk));
    socket.on('error', () => {
      conn.closeReason ??= 'socket-error';
    });
    socket.on('close', () => this.closed(conn));
    if (this.blocked) this.pause(conn, now);
    this.emit('change');
  }

  private refuseFlood(sourceIp: string): void {
    this.counters.refusedConnections++;
    this.warn(
      {
        code: 'refused',
        message: `refused a connection from ${sourceIp}: more than ${this.accepts.capacity} new connections at once or ${this.accepts.perSecond} a second (a connection flood?); connected scales are not affected`,
        sourceIp,
      },
      'refused flood',
    );
  }

  private refuse(socket: net.Socket, sourceIp: string, message: string): void {
    this.counters.refusedConnections++;
    socket.destroy();
    this.warn({ code: 'refused', message, sourceIp });
  }

  /**
   * Every slot is taken: a socket that never identified itself as a scale gives its slot up
   * (the one that has been open longest), so stray sockets can never lock real scales out.
   */
  private evictStray(): boolean {
    for (const c of this.connections.values()) {
      // Map order is accept order: the first stray one is the oldest.
      if (c.identified || c.closeReason !== null) continue;
      this.warn({
        code: 'evicted',
        message: `closed the unregistered socket from ${c.sourceIp} to make room: all ${this.settings.maxConnections} connection slots were taken`,
        sourceIp: c.sourceIp,
      });
      this.close(c, 'evicted');
      this.connections.delete(c.id);
      this.forgetConnection(c);
      return true;
    }
    return false;
  }

  private close(conn: Connection, reason: DisconnectReason): void {
    conn.closeReason ??= reason;
    conn.socket.destroy();
  }

  private closed(conn: Connection): void {
    // An evicted socket left the table at once; its disconnect is still reported here.
    if (!this.connections.delete(conn.id) && conn.closeReason !== 'evicted') return;
    const rec = this.forgetConnection(conn);
    if (this.stopped) return;
    const reason = conn.closeReason ?? 'closed-by-scale';
    // A replaced socket lost its id to the new one; report it under that id all the same.
    const deviceId = rec?.deviceId ?? this.replacedIds.get(conn.id) ?? null;
    this.replacedIds.delete(conn.id);
    const quiet = this.quietCloses.delete(conn.id);
    if (deviceId) {
      this.note('disconnect', deviceId, `${deviceId} disconnected from ${conn.sourceIp} (${reason})`);
      // Gone, unless its id lives on in a newer socket (replaced): kept as known, with its last figures.
      if (rec?.deviceId && !this.registry.connectionOf(deviceId)) {
        this.known.disconnected(deviceId, rec, reason, this.clock.mono());
        this.saver?.schedule();
      }
    }
    if (deviceId && !quiet) {
      this.emit('device', 'device_disconnected', {
        deviceId,
        reason,
        sourceIp: conn.sourceIp,
        timestamp: new Date(this.clock.wall()).toISOString(),
      });
    }
    this.emit('change');
  }

  /**
   * The socket is gone: weighings still waiting for the store can no longer be answered,
   * so they stop counting as originals (a resend on a new socket is stored as new).
   */
  private forgetConnection(conn: Connection): DeviceRecord | undefined {
    this.pausedConns.delete(conn);
    conn.held = null;
    const gone: PendingAck[] = [];
    for (const [eventId, p] of this.pendingAcks) {
      if (p.connectionId === conn.id) {
        this.pendingAcks.delete(eventId);
        this.duplicates.forget(eventId);
        gone.push(p);
      } else if (p.duplicateWaiters.includes(conn.id)) {
        p.duplicateWaiters = p.duplicateWaiters.filter((w) => w !== conn.id);
      }
    }
    const rec = this.registry.disconnect(conn.id);
    if (!this.stopped) for (const p of gone) this.released(p);
    return rec;
  }

  private receive(conn: Connection, chunk: Buffer): void {
    if (this.stopped) return;
    const now = this.clock.mono();
    conn.framer ??= new Dp401Framer(this.settings.maxLineBytes);
    const packets = conn.framer.push(chunk);
    if (conn.held) {
      // Not expected (a paused socket emits no data), but never out of order if it happens.
      conn.held = conn.held.slice(conn.heldFrom).concat(packets);
      conn.heldFrom = 0;
    } else this.run(conn, packets, 0, now);
    this.checkHealth();
  }

  /**
   * Handles packets in order; a weighing that may not be taken now (too many waiting for OK)
   * is held with everything after it, and the socket is paused until OKs go out. What is held
   * is bounded by one chunk of the socket.
   */
  private run(conn: Connection, packets: Packet[], from: number, now: number): void {
    conn.running = true;
    try {
      for (let i = from; i < packets.length; i++) {
        const packet = packets[i];
        if (packet.kind === 'line' && this.mustWait(conn)) {
          conn.held = packets;
          conn.heldFrom = i;
          this.pausedForScale(conn, now);
          return;
        }
        this.handle(conn, packet, now);
      }
    } finally {
      conn.running = false;
    }
    // Stop reading as soon as the bound is reached, not at the next chunk; and a connection
    // paused while it ran (the store-wide bound) that may go on is read again.
    if (this.mustWait(conn)) this.pausedForScale(conn, now);
    else if (conn.paused && !conn.held) this.settle(conn, now);
  }

  private pausedForScale(conn: Connection, now: number): void {
    if (conn.paused) return;
    this.pause(conn, now);
    if (this.blocked) return; // the store-wide pause said so already
    this.warn(
      {
        code: 'paused',
        message: `stopped reading ${this.label(conn)}: ${conn.waiting} of its weighings wait for the store's OK (the scale waits; reading resumes as OKs go out)`,
        deviceId: this.registry.get(conn.id)?.deviceId,
        sourceIp: conn.sourceIp,
      },
      'paused scale',
    );
  }

  private handle(conn: Connection, packet: Packet, now: number): void {
    switch (packet.kind) {
      case 'register':
        this.registerDevice(conn, packet.deviceId, now);
        break;
      case 'heartbeat': {
        this.ensureMappedId(conn, now);
        const rec = this.registry.heartbeat(conn.id, now);
        if (rec?.deviceId) {
          this.emit('device', 'device_heartbeat', {
            deviceId: rec.deviceId,
            status: this.registry.healthAt(rec, now),
            heartbeatCount: rec.heartbeatCount,
            sourceIp: conn.sourceIp,
            timestamp: new Date(this.clock.wall()).toISOString(),
          });
        }
        break;
      }
      case 'transfer-query':
        this.registry.touch(conn.id, now);
        conn.socket.write(OK);
        break;
      case 'line':
        this.weighing(conn, packet.bytes, now);
        break;
      case 'junk':
        this.unusable(
          conn,
          now,
          'junk',
          `ignored ${packet.length} unknown byte(s) from ${this.label(conn)}: ${JSON.stringify(packet.sample.toString('latin1'))}`,
        );
        break;
      case 'bad-register':
        this.unusable(
          conn,
          now,
          'bad-register',
          `refused registration "${packet.text}" from ${this.label(conn)}: a DP-401 registers as SCALE- and two digits (SCALE-00 to SCALE-99)`,
        );
        break;
      case 'overflow':
        this.unusable(
          conn,
          now,
          'overflow',
          `discarded a ${packet.length}-byte line from ${this.label(conn)}: longer than the ${this.settings.maxLineBytes}-byte buffer cap`,
        );
        break;
    }
  }

  /**
   * Bytes that make no packet: warned about (rate-limited). They are a sign of life from a
   * scale, but never from a socket that has not shown it is one.
   */
  private unusable(conn: Connection, now: number, code: GatewayWarning['code'], message: string): void {
    if (conn.identified) this.registry.touch(conn.id, now);
    this.warn({ code, message, deviceId: this.registry.get(conn.id)?.deviceId, sourceIp: conn.sourceIp });
  }

  private label(conn: Connection): string {
    return this.registry.get(conn.id)?.deviceId ?? conn.sourceIp;
  }

  private registerDevice(conn: Connection, deviceId: string, now: number): void {
    conn.identified = true;
    const previousId = this.registry.get(conn.id)?.deviceId ?? null;
    if (previousId === deviceId) {
      this.registry.touch(conn.id, now);
      return;
    }
    const result = this.registry.register(conn.id, deviceId, now);
    const rec = this.registry.get(conn.id)!;
    // A socket that registers again under another id leaves its old id without a connection.
    if (previousId !== null && !this.registry.connectionOf(previousId)) this.known.disconnected(previousId, rec, 'requested', now);
    this.known.connected(deviceId, rec, now);
    this.saver?.schedule();
    this.note('connect', deviceId, `${deviceId} connected from ${conn.sourceIp}`);
    // Two scales with one id take it from each other over and over: the flow (and the Cloud)
    // keeps seeing one connected scale, and the conflict is a problem until it stops.
    let quiet = false;
    if (result.replaced) {
      const old = this.connections.get(result.replaced.connectionId);
      // The first take-over is reported as it always was; those after it, while the conflict lasts, not.
      quiet = this.conflicts.active(deviceId, now) !== null;
      if (result.conflict) this.conflicts.takeover(deviceId, result.replaced.sourceIp, conn.sourceIp, now);
      if (old && quiet) this.quietCloses.add(old.id);
      if (result.conflict) {
        this.warn(
          {
            code: 'id-conflict',
            message: `${deviceId} connected from ${conn.sourceIp} while ${result.replaced.sourceIp} was still sending heartbeats as ${deviceId}: two scales are probably configured with the same ID`,
            deviceId,
            sourceIp: conn.sourceIp,
          },
          `id-conflict ${deviceId}`,
        );
      }
      if (old) {
        this.replacedIds.set(old.id, deviceId);
        this.close(old, 'replaced');
      }
    }
    if (quiet) {
      this.emit('change');
      return;
    }
    this.emit('device', 'device_connected', {
      deviceId,
      sourceIp: conn.sourceIp,
      deviceType: 'DP-401',
      connectedAt: new Date(this.clock.wall()).toISOString(),
    });
    this.emit('change');
  }

  /** A connection that never registered gets its id from the address map, if there is one. */
  private ensureMappedId(conn: Connection, now: number): string | null {
    const rec = this.registry.get(conn.id);
    if (rec?.deviceId) return rec.deviceId;
    const mapped = this.settings.addressMap.get(conn.sourceIp);
    if (mapped) {
      this.registerDevice(conn, mapped, now);
      return mapped;
    }
    return null;
  }

  private weighing(conn: Connection, bytes: Buffer, now: number): void {
    const parsed = parseWeighingLine(bytes, this.settings.encoding);
    let deviceId = this.ensureMappedId(conn, now);
    if (!parsed.ok) {
      this.registry.touch(conn.id, now);
      this.counters.rejectedLines++;
      this.emit('line-rejected', { error: parsed.error, raw: parsed.raw, deviceId, sourceIp: conn.sourceIp });
      this.emit('change');
      return;
    }
    // A well-formed weighing line proves a scale is on this socket.
    conn.identified = true;
    if (!deviceId) {
      // Never drop a weighing for want of a registration.
      deviceId = `UNREGISTERED-${conn.sourceIp}`;
      if (!conn.warnedUnregistered) {
        conn.warnedUnregistered = true;
        this.warn({
          code: 'unregistered',
          message: `weighing from ${conn.sourceIp} before it registered: recorded as ${deviceId} (set the scale's register package, or add its address to the address map)`,
          deviceId,
          sourceIp: conn.sourceIp,
        });
      }
    }
    const event = buildWeighingEvent(parsed.line, {
      deviceId,
      sourceIp: conn.sourceIp,
      weightUnit: this.settings.weightUnit,
      maxCapacityGrams: this.settings.maxCapacityGrams,
      timeZone: this.settings.timeZone,
      now: this.clock.wall(),
    });
    const key = DuplicateFilter.key(deviceId, event.pluCode, event.weightGrams, event.tareGrams);
    const dup = this.duplicates.check(key, event.localEventId, now);
    // The original either is stored (its pending ack is settled) or waits for its commit on a
    // live socket; one that can no longer be answered was forgotten, so `dup` is null then.
    const pending = dup ? this.pendingAcks.get(dup.originalEventId) : undefined;
    if (dup) {
      this.counters.duplicates++;
      const rec = this.registry.get(conn.id);
      if (rec) rec.duplicateCount++;
      this.registry.touch(conn.id, now);
      this.emit('device', 'duplicate_suppressed', {
        deviceId,
        pluCode: event.pluCode,
        weightGrams: event.weightGrams,
        tareGrams: event.tareGrams,
        originalEventId: dup.originalEventId,
        secondsAfterOriginal: (now - dup.firstSeenAt) / 1000,
        raw: event.raw,
        sourceIp: conn.sourceIp,
        receivedAt: event.receivedAt,
      });
      if (pending && this.settings.ackMode === 'store') {
        pending.duplicateWaiters.push(conn.id);
        conn.waiting++;
      } else conn.socket.write(OK);
      this.emit('change');
      return;
    }
    this.registry.weighing(conn.id, event.weightGrams, now);
    this.counters.events++;
    this.lastEvent = event;
    if (this.settings.ackMode === 'receipt') conn.socket.write(OK);
    else this.trackPendingAck(event.localEventId, conn, now);
    this.emit('event', event, conn.id);
    this.emit('change');
  }

  private trackPendingAck(localEventId: string, conn: Connection, now: number): void {
    const max = this.options.maxPendingAcks ?? 10_000;
    if (this.pendingAcks.size >= max) {
      const oldest = this.pendingAcks.entries().next().value;
      if (oldest !== undefined) {
        this.pendingAcks.delete(oldest[0]);
        this.duplicates.forget(oldest[0]);
        this.released(oldest[1]);
      }
      this.warn({
        code: 'ack-backlog',
        message: `${max} weighings are waiting for the store's acknowledgement: is event-store's "stored" output wired back to dp401-in, or should acknowledge be "on receipt"?`,
      });
    }
    this.pendingAcks.set(localEventId, { connectionId: conn.id, duplicateWaiters: [], since: now });
    conn.waiting++;
    if (!this.blocked && this.pendingAcks.size >= this.maxTotal) this.block(now);
  }

  /**
   * The timer's work: registration deadlines and held-back warning counts (neither needs to
   * run per received chunk, unlike the health check), then the health check.
   */
  private tick(): void {
    const now = this.clock.mono();
    if (this.dropping && this.accepts.available(now) >= 1) {
      this.dropping = false;
      // Node's own limit is off again (it was never set otherwise).
      (this.server as { maxConnections?: number }).maxConnections = undefined;
    }
    for (const c of this.pausedConns) this.credit(c, now);
    const deadline = this.settings.registrationTimeoutMs;
    if (deadline > 0) {
      for (const c of this.connections.values()) {
        if (c.identified || c.closeReason !== null || now - c.acceptedAt < deadline) continue;
        this.warn({
          code: 'registration-timeout',
          message: `closed the socket from ${c.sourceIp}: no SCALE-NN registration within ${deadline / 1000} s (is it a scale? add its address to the address map if it never registers)`,
          sourceIp: c.sourceIp,
        });
        this.close(c, 'registration-timeout');
      }
    }
    for (const line of this.warnings.flush(now)) {
      this.emit('warning', { code: line.cause.split(' ')[0] as GatewayWarning['code'], message: line.message });
    }
    for (const line of this.notes.flush(now)) this.emit('info', line.message);
    // A scale becoming missing is a change of the node's status and the tab's problems.
    const missing = this.missingScales().length;
    if (missing !== this.missingCount) {
      this.missingCount = missing;
      this.emit('change');
    }
    this.checkHealth();
  }

  private checkHealth(): void {
    const now = this.clock.mono();
    for (const c of this.pausedConns) this.credit(c, now);
    const changes: HealthChange[] = this.registry.evaluate(now);
    for (const ch of changes) {
      const conn = this.connections.get(ch.connectionId);
      if (ch.deviceId) {
        this.emit('device', 'device_status', {
          deviceId: ch.deviceId,
          status: ch.to,
          previousStatus: ch.from,
          sourceIp: conn?.sourceIp,
          timestamp: new Date(this.clock.wall()).toISOString(),
        });
      }
      if (ch.to === 'disconnected' && conn) this.close(conn, 'heartbeat-timeout');
    }
    if (changes.length) this.emit('change');
  }

  /** A log line for a scale's connect or disconnect, at most one per scale and kind a minute (the rest counted). */
  private note(kind: 'connect' | 'disconnect', deviceId: string, message: string): void {
    const line = this.notes.offer(`${kind} ${deviceId}`, message, this.clock.mono());
    if (line) this.emit('info', line.message);
  }

  /** Reads the saved known scales, if any: every one is disconnected until it connects again. */
  private loadKnown(): void {
    const file = this.options.knownScalesFile;
    if (!file || this.known.size) return;
    // The file, else the copy of the one before it (writeFileAtomic keeps it), else none.
    for (const f of [file, `${file}.bak`]) {
      let text: string;
      try {
        text = fs.readFileSync(f, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        this.warn({ code: 'known-scales', message: `cannot read the known scales from ${f}: ${(err as Error).message}` });
        continue;
      }
      try {
        const bad = this.known.load(text, this.clock);
        if (bad) this.warn({ code: 'known-scales', message: `skipped ${bad} unreadable record(s) in ${f}` });
        return;
      } catch (err) {
        this.warn({ code: 'known-scales', message: `ignored ${f}: ${(err as Error).message}` });
      }
    }
  }

  /**
   * Forgets a scale that is not connected (the tab's Forget). A connected scale cannot be
   * forgotten: it would be known again at once, and the plant must see it.
   */
  forget(deviceId: string): 'forgotten' | 'connected' | 'unknown' {
    if (this.registry.connectionOf(deviceId)) return 'connected';
    if (!this.known.forget(deviceId)) return 'unknown';
    this.saver?.schedule();
    this.missingCount = this.missingScales().length;
    this.emit('change');
    return 'forgotten';
  }

  /** Known scales disconnected longer than "Missing after" (counted from this gateway's start at the earliest). */
  missingScales(): MissingScale[] {
    const after = this.settings.missingAfterMs;
    if (!(after > 0)) return [];
    const now = this.clock.mono();
    const out: MissingScale[] = [];
    for (const k of this.known.list()) {
      if (k.connected || k.disconnectedAt === null) continue;
      const forMs = now - Math.max(k.disconnectedAt, this.startedAt);
      if (forMs >= after) out.push({ deviceId: k.deviceId, address: k.address, forMs });
    }
    return out;
  }

  /** A snapshot for status lines and admin views. */
  devices(): DeviceRecord[] {
    return this.registry.devices();
  }

  /** The ids two scales fight over now (each naming every address seen), for problems and views. */
  idConflicts(): IdConflict[] {
    return this.conflicts.list(this.clock.mono());
  }

  /**
   * Every known scale with its times on the wall clock, for admin views: the connected ones from
   * their connections, the others as they were last seen. Sorted by id.
   */
  deviceViews(): DeviceView[] {
    const conflicts = new Map(this.idConflicts().map((c) => [c.deviceId, c.addresses]));
    const at = (t: number | null): string | null => (t === null ? null : wallIso(this.clock, t));
    // Oldest first: the map keeps insertion order, so the first entry per connection wins.
    const waitingSince = new Map<string, number>();
    for (const p of this.pendingAcks.values()) if (!waitingSince.has(p.connectionId)) waitingSince.set(p.connectionId, p.since);
    const now = this.clock.mono();
    const missing = new Set(this.missingScales().map((m) => m.deviceId));
    const views: DeviceView[] = this.devices().map((d) => ({
      connectionId: d.connectionId,
      deviceId: d.deviceId,
      sourceIp: d.sourceIp,
      health: d.health,
      since: wallIso(this.clock, d.healthSince),
      lastSeenAt: wallIso(this.clock, d.lastHeardAt),
      connectedAt: wallIso(this.clock, d.connectedAt),
      disconnectedAt: null,
      disconnectReason: null,
      missing: false,
      lastHeartbeatAt: at(d.lastHeartbeatAt),
      lastWeighingAt: at(d.lastWeighingAt),
      lastWeightGrams: d.lastWeightGrams,
      heartbeatCount: d.heartbeatCount,
      eventCount: d.eventCount,
      duplicateCount: d.duplicateCount,
      waitingForOkS: waitingSince.has(d.connectionId) ? Math.round((now - waitingSince.get(d.connectionId)!) / 100) / 10 : null,
      idConflict: (d.deviceId !== null && conflicts.get(d.deviceId)) || null,
    }));
    for (const k of this.known.list()) {
      if (this.registry.connectionOf(k.deviceId)) continue;
      views.push({
        connectionId: null,
        deviceId: k.deviceId,
        sourceIp: k.address,
        health: 'disconnected',
        since: wallIso(this.clock, k.disconnectedAt ?? k.lastSeenAt),
        lastSeenAt: wallIso(this.clock, k.lastSeenAt),
        connectedAt: wallIso(this.clock, k.connectedAt),
        disconnectedAt: at(k.disconnectedAt),
        disconnectReason: k.disconnectReason,
        missing: missing.has(k.deviceId),
        lastHeartbeatAt: null,
        lastWeighingAt: at(k.lastWeighingAt),
        lastWeightGrams: k.lastWeightGrams,
        heartbeatCount: null,
        eventCount: null,
        duplicateCount: null,
        waitingForOkS: null,
        idConflict: conflicts.get(k.deviceId) ?? null,
      });
    }
    return views.sort((a, b) => String(a.deviceId).localeCompare(String(b.deviceId)));
  }
}
