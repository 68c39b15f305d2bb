import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Dp401Framer, type Packet } from './framer';
import type { WeighingEvent } from './weighing-event';
import type { IdConflict } from './id-conflicts';
import { DeviceRegistry, type DeviceRecord, type HealthChange } from './device-registry';
import type { KnownScales } from './known-scales';
import { normalizeAddress, type Dp401Settings } from './settings';
import { systemClock, type Clock } from '../util/clock';
import { WarningLimiter } from '../util/warning-limiter';
import { Admission, type AdmissionOptions } from './admission';
import { OkLedger } from './ok-ledger';
import { FlowControl, type FlowOptions } from './flow-control';
import { OK_REPLY, PacketHandler, type GatewayCounters, type ScaleConnection } from './packet-handler';
import { ScaleRoster, type RosterOptions } from './scale-roster';
import { deviceViews, type DeviceView, type MissingScale } from './scale-views';
import type { DisconnectReason, GatewayEvents, GatewayWarning } from './gateway-events';

/**
 * The TCP server DP-401 scales connect to, with no knowledge of Node-RED: it binds its port
 * (retried on a backoff), takes or refuses sockets, frames what they send, keeps their health
 * (closing a silent one), writes `OK\n`, and reports everything as events. The dp401-in node is
 * a thin adapter over this class. It owns the sockets; each decision about them has a module:
 * Admission (who may connect), FlowControl (which socket is read), PacketHandler (what a packet
 * means), OkLedger (which weighing waits for OK, which is a repeat), ScaleRoster (which scale
 * is on which socket, the known scales) and scale-views (the admin views). What is left here,
 * a little over 400 lines, is the life of a socket from bind and accept to close and stop,
 * which every one of those parts is told of: split further, it would be told in two places.
 */

export type { DeviceMessage, DeviceTopic, DisconnectReason, GatewayEvents, GatewayWarning, LineRejected } from './gateway-events';
export type { DeviceView, MissingScale } from './scale-views';
export { OK_LATE_MS } from './ok-ledger';
export { MAX_WAITING_PER_SCALE, MAX_WAITING_TOTAL } from './flow-control';

export interface GatewayOptions extends AdmissionOptions, FlowOptions, Partial<Omit<RosterOptions, 'missingAfterMs'>> {
  /** Wall clock for timestamps, monotonic clock for every interval (tests inject both). */
  clock?: Clock;
  healthIntervalMs?: number;
  /** Weighings awaiting the store's acknowledgement, at most (oldest forgotten first). */
  maxPendingAcks?: number;
}

const WARNING_WINDOW_MS = 60_000;
const BIND_RETRY_MIN_MS = 1000;
const BIND_RETRY_MAX_MS = 30_000;

export class ScaleGateway extends EventEmitter<GatewayEvents> {
  readonly registry: DeviceRegistry;
  private readonly server: net.Server;
  private readonly connections = new Map<string, ScaleConnection>();
  private readonly admission: Admission<ScaleConnection>;
  private readonly flow: FlowControl<ScaleConnection>;
  private readonly packets: PacketHandler<ScaleConnection>;
  private readonly ledger: OkLedger;
  private readonly roster: ScaleRoster<ScaleConnection>;
  private missingCount = 0;
  private readonly clock: Clock;
  private readonly warnings = new WarningLimiter(WARNING_WINDOW_MS);
  private readonly prefix = randomBytes(3).toString('hex');
  private nextConnection = 1;
  private healthTimer: NodeJS.Timeout | null = null;
  private bindTimer: NodeJS.Timeout | null = null;
  private bindAttempts = 0;
  private stopped = false;
  private listening = false;
  /** A listen() is in progress: the port may be bound any moment. */
  private binding = false;
  /** Counters a person watching the node wants to see. */
  readonly counters: GatewayCounters = { events: 0, duplicates: 0, rejectedLines: 0, refusedConnections: 0 };
  /** Why the port could not be bound, until it is. */
  lastBindError: NodeJS.ErrnoException | null = null;

  constructor(
    readonly settings: Dp401Settings,
    private readonly options: GatewayOptions = {},
  ) {
    super();
    this.clock = options.clock ?? systemClock;
    this.registry = new DeviceRegistry(settings);
    const host = {
      connections: this.connections,
      close: (conn: ScaleConnection, reason: DisconnectReason) => this.close(conn, reason),
      warn: (w: GatewayWarning, cause?: string) => this.warn(w, cause),
      info: (message: string) => this.emit('info', message),
      handle: (conn: ScaleConnection, packet: Packet, now: number) => this.packets.handle(conn, packet, now),
      change: () => this.emit('change'),
      evict: (conn: ScaleConnection) => this.evict(conn),
      counters: this.counters,
    };
    this.roster = new ScaleRoster(host, this.registry, this.clock, { ...options, missingAfterMs: settings.missingAfterMs });
    this.ledger = new OkLedger({ duplicateWindowMs: settings.duplicateWindowMs, holdOks: settings.ackMode === 'store', maxWaiting: options.maxPendingAcks });
    this.flow = new FlowControl(host, this.ledger, this.registry, options);
    this.packets = new PacketHandler({
      ...host,
      settings,
      clock: this.clock,
      registry: this.registry,
      roster: this.roster,
      ledger: this.ledger,
      flow: this.flow,
      counters: this.counters,
      events: this,
    });
    this.server = net.createServer((socket) => this.accept(socket));
    this.admission = new Admission(this.server, settings, host, options, this.clock.mono());
    this.server.on('error', (err: NodeJS.ErrnoException) => this.bindFailed(err));
    // Closed by Node (server.maxConnections, set while the accept budget is spent): no socket was made.
    this.server.on('drop', (data?: { remoteAddress?: string }) => this.admission.refusedFlood(normalizeAddress(data?.remoteAddress ?? '?')));
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
    this.roster.start(this.clock.mono());
    this.bind();
    const interval = this.options.healthIntervalMs ?? 1000;
    this.healthTimer = setInterval(() => this.tick(), interval);
  }

  /** Every scale seen, connected or not (bounded; saved on connect, disconnect, forget and stop). */
  get known(): KnownScales {
    return this.roster.known;
  }

  /** The last weighing taken (not a repeat). */
  get lastEvent(): WeighingEvent | null {
    return this.packets.lastEvent;
  }

  get isListening(): boolean {
    return this.listening;
  }

  get pendingAckCount(): number {
    return this.ledger.size;
  }

  /** No scale socket is read: the store is behind (too many weighings wait for its OK). */
  get readingPaused(): boolean {
    return this.flow.readingPaused;
  }

  /** Sockets not being read right now (flow control), whether for their own backlog or the store's. */
  get pausedSocketCount(): number {
    return this.flow.pausedCount;
  }

  /** Age of the oldest weighing still waiting for the store's acknowledgement. */
  oldestPendingAckMs(): number {
    const since = this.ledger.oldestSince();
    return since === null ? 0 : this.clock.mono() - since;
  }

  /** Stops everything; resolves once the port is free and every socket is destroyed. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.bindTimer) clearTimeout(this.bindTimer);
    this.healthTimer = this.bindTimer = null;
    const saved = this.roster.stop(this.clock.mono());
    for (const c of this.connections.values()) c.socket.destroy();
    this.connections.clear();
    this.ledger.clear();
    this.flow.clear();
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
   * The store has the weighing: send `OK\n` for it (and for its duplicates) to the scale on
   * connection `connectionId` (the one its `event` named). Without an event id, the
   * connection's oldest waiting weighing is meant. Returns false when the connection is gone;
   * the event itself is safe either way.
   */
  acknowledge(connectionId: string, localEventId?: string): boolean {
    const answered = this.ledger.answer(connectionId, localEventId);
    for (const c of answered.repeats) this.writeOk(c);
    const sent = this.writeOk(answered.connectionId);
    if (answered.release) this.flow.released(answered.release, this.clock.mono());
    if (!sent) {
      this.warn({
        code: 'ack-unknown',
        message: `cannot send OK for ${localEventId ?? 'a weighing'}: connection ${connectionId} is closed (the event is stored; the scale may resend it)`,
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
    const release = this.ledger.refuse(localEventId);
    if (release) this.flow.released(release, this.clock.mono());
    this.emit('change');
    return release !== null;
  }

  private writeOk(connectionId: string): boolean {
    const conn = this.connections.get(connectionId);
    if (!conn || conn.socket.destroyed) return false;
    conn.socket.write(OK_REPLY);
    return true;
  }

  /** Emits a warning, at most one line per cause per minute (the rest counted in it). */
  private warn(w: GatewayWarning, cause: string = w.code): void {
    const line = this.warnings.offer(cause, w.message, this.clock.mono());
    if (line) this.emit('warning', { ...w, message: line.message });
  }

  /** Closes the socket of a device (by id) or of a connection (by connection id). */
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
    const now = this.clock.mono();
    if (!this.admission.admit(socket, sourceIp, now)) return;
    const id = `${this.prefix}-${this.nextConnection++}`;
    const conn: ScaleConnection = {
      id,
      socket,
      framer: null,
      sourceIp,
      closeReason: null,
      warnedUnregistered: false,
      identified: this.settings.addressMap.has(sourceIp),
      acceptedAt: now,
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
    this.flow.accepted(conn, now);
    this.emit('change');
  }

  /** A stray socket gives its slot up at once (Admission); its disconnect is reported when it closes. */
  private evict(conn: ScaleConnection): void {
    this.close(conn, 'evicted');
    this.connections.delete(conn.id);
    this.forgetConnection(conn);
  }

  private close(conn: ScaleConnection, reason: DisconnectReason): void {
    conn.closeReason ??= reason;
    conn.socket.destroy();
  }

  private closed(conn: ScaleConnection): void {
    // An evicted socket left the table at once; its disconnect is still reported here.
    if (!this.connections.delete(conn.id) && conn.closeReason !== 'evicted') return;
    const rec = this.forgetConnection(conn);
    if (this.stopped) return;
    const reason = conn.closeReason ?? 'closed-by-scale';
    // A replaced socket lost its id to the new one; it is reported under that id all the same.
    const { deviceId, quiet } = this.roster.closed(conn, rec, reason);
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

  /** The socket is gone: what waited for OK on it no longer does (see OkLedger.closed). */
  private forgetConnection(conn: ScaleConnection): DeviceRecord | undefined {
    this.flow.forget(conn);
    const gone = this.ledger.closed(conn.id);
    const rec = this.registry.disconnect(conn.id);
    if (!this.stopped) for (const release of gone) this.flow.released(release, this.clock.mono());
    return rec;
  }

  private receive(conn: ScaleConnection, chunk: Buffer): void {
    if (this.stopped) return;
    const now = this.clock.mono();
    conn.framer ??= new Dp401Framer(this.settings.maxLineBytes);
    this.flow.received(conn, conn.framer.push(chunk), now);
    this.checkHealth();
  }

  /**
   * The timer's work: the accept budget, registration deadlines and held-back log lines
   * (none of them needs to run per received chunk, unlike the health check), then the health check.
   */
  private tick(): void {
    const now = this.clock.mono();
    this.admission.tick(now);
    this.flow.creditPaused(now);
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
    for (const message of this.roster.flushNotes(now)) this.emit('info', message);
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
    this.flow.creditPaused(now);
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

  /**
   * Forgets a scale that is not connected (the tab's Forget). A connected scale cannot be
   * forgotten: it would be known again at once, and the plant must see it.
   */
  forget(deviceId: string): 'forgotten' | 'connected' | 'unknown' {
    const result = this.roster.forget(deviceId);
    if (result !== 'forgotten') return result;
    this.missingCount = this.missingScales().length;
    this.emit('change');
    return result;
  }

  /** Known scales disconnected longer than "Missing after" (counted from this gateway's start at the earliest). */
  missingScales(): MissingScale[] {
    return this.roster.missing(this.clock.mono());
  }

  /** A snapshot for status lines and admin views. */
  devices(): DeviceRecord[] {
    return this.registry.devices();
  }

  /** The ids two scales fight over now (each naming every address seen), for problems and views. */
  idConflicts(): IdConflict[] {
    return this.roster.idConflicts(this.clock.mono());
  }

  /**
   * Every known scale with its times on the wall clock, for admin views: the connected ones from
   * their connections, the others as they were last seen. Sorted by id.
   */
  deviceViews(): DeviceView[] {
    return deviceViews({
      registry: this.registry,
      known: this.roster.known,
      conflicts: this.idConflicts(),
      waitingSince: this.ledger.waitingSince(),
      missing: this.missingScales(),
      clock: this.clock,
    });
  }
}
