import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Dp401Framer, type Packet } from './framer';
import { parseWeighingLine } from './weighing-line';
import { buildWeighingEvent, type WeighingEvent } from './weighing-event';
import { DuplicateFilter } from './duplicate-filter';
import { DeviceRegistry, type DeviceRecord, type HealthChange } from './device-registry';
import { allowListMatcher, normalizeAddress, type Dp401Settings } from './settings';

/**
 * The TCP server DP-401 scales connect to, with no knowledge of Node-RED: it frames and
 * parses what the scales send, keeps the device registry, answers `OK\n`, and reports
 * everything as events. The dp401-in node is a thin adapter over this class.
 */

export type DeviceTopic =
  | 'device_connected'
  | 'device_disconnected'
  | 'device_heartbeat'
  | 'device_status'
  | 'duplicate_suppressed';

export type DisconnectReason =
  | 'closed-by-scale'
  | 'replaced'
  | 'heartbeat-timeout'
  | 'requested'
  | 'socket-error';

export interface LineRejected {
  error: string;
  raw: string;
  deviceId: string | null;
  sourceIp: string;
}

export interface GatewayWarning {
  code: 'junk' | 'overflow' | 'unregistered' | 'id-conflict' | 'refused' | 'ack-unknown' | 'ack-backlog';
  message: string;
  deviceId?: string | null;
  sourceIp?: string;
}

export interface GatewayEvents {
  event: [event: WeighingEvent, sessionId: string];
  device: [topic: DeviceTopic, payload: Record<string, unknown>];
  'line-rejected': [info: LineRejected];
  warning: [warning: GatewayWarning];
  listening: [address: net.AddressInfo];
  'bind-error': [error: NodeJS.ErrnoException, retryInMs: number];
  change: [];
}

export interface GatewayOptions {
  now?: () => number;
  healthIntervalMs?: number;
  /** Weighings awaiting the store's acknowledgement, at most (oldest forgotten first). */
  maxPendingAcks?: number;
}

interface Connection {
  id: string;
  socket: net.Socket;
  framer: Dp401Framer;
  sourceIp: string;
  closeReason: DisconnectReason | null;
  warnedUnregistered: boolean;
  lastJunkWarning: number;
}

interface PendingAck {
  connectionId: string;
  /** Duplicates of this weighing that also wait for its OK. */
  duplicates: number;
  since: number;
}

const OK = Buffer.from('OK\n', 'latin1');
const JUNK_WARNING_INTERVAL_MS = 10_000;
const BIND_RETRY_MIN_MS = 1000;
const BIND_RETRY_MAX_MS = 30_000;

export class ScaleGateway extends EventEmitter<GatewayEvents> {
  readonly registry: DeviceRegistry;
  private readonly server: net.Server;
  private readonly connections = new Map<string, Connection>();
  private readonly duplicates: DuplicateFilter;
  private readonly pendingAcks = new Map<string, PendingAck>();
  /** Connections whose device id moved to a newer socket: connection id -> device id. */
  private readonly replacedIds = new Map<string, string>();
  private readonly allowed: (address: string) => boolean;
  private readonly now: () => number;
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
  readonly counters = { events: 0, duplicates: 0, rejectedLines: 0, refusedConnections: 0 };
  lastEvent: WeighingEvent | null = null;

  constructor(
    readonly settings: Dp401Settings,
    private readonly options: GatewayOptions = {},
  ) {
    super();
    this.now = options.now ?? Date.now;
    this.registry = new DeviceRegistry(settings);
    this.duplicates = new DuplicateFilter(settings.duplicateWindowMs);
    this.allowed = allowListMatcher(settings.allowedSources);
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', (err: NodeJS.ErrnoException) => this.bindFailed(err));
    this.server.on('listening', () => {
      this.binding = false;
      this.listening = true;
      this.bindAttempts = 0;
      this.emit('listening', this.server.address() as net.AddressInfo);
      this.emit('change');
    });
  }

  /** Starts listening; a port in use is retried on a backoff, never thrown. */
  start(): void {
    this.stopped = false;
    this.bind();
    const interval = this.options.healthIntervalMs ?? 1000;
    this.healthTimer = setInterval(() => this.checkHealth(), interval);
  }

  get isListening(): boolean {
    return this.listening;
  }

  get pendingAckCount(): number {
    return this.pendingAcks.size;
  }

  /** Age of the oldest weighing still waiting for the store's acknowledgement. */
  oldestPendingAckMs(): number {
    const first = this.pendingAcks.values().next().value;
    return first ? this.now() - first.since : 0;
  }

  /** Stops everything; resolves once the port is free and every socket is destroyed. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.bindTimer) clearTimeout(this.bindTimer);
    this.healthTimer = this.bindTimer = null;
    for (const c of this.connections.values()) c.socket.destroy();
    this.connections.clear();
    this.pendingAcks.clear();
    this.removeAllListeners();
    return new Promise((resolve) => {
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
  }

  /**
   * The store has the weighing: send `OK\n` for it (and for its duplicates) to the scale.
   * Returns false when the connection is gone; the event itself is safe either way.
   */
  acknowledge(sessionId: string, localEventId?: string): boolean {
    let count = 1;
    let connectionId = sessionId;
    if (localEventId !== undefined) {
      const pending = this.pendingAcks.get(localEventId);
      if (pending) {
        this.pendingAcks.delete(localEventId);
        count += pending.duplicates;
        connectionId = pending.connectionId;
      }
    }
    const conn = this.connections.get(connectionId);
    if (!conn || conn.socket.destroyed) {
      this.emit('warning', {
        code: 'ack-unknown',
        message: `cannot send OK for ${localEventId ?? 'a weighing'}: connection ${sessionId} is closed (the event is stored; the scale may resend it)`,
      });
      this.emit('change');
      return false;
    }
    for (let i = 0; i < count; i++) conn.socket.write(OK);
    this.emit('change');
    return true;
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
    if (!this.allowed(sourceIp)) {
      this.refuse(socket, sourceIp, `connection from ${sourceIp} refused: not in the allowed sources`);
      return;
    }
    if (this.connections.size >= this.settings.maxConnections) {
      this.refuse(socket, sourceIp, `connection from ${sourceIp} refused: ${this.settings.maxConnections} connections already open (max connections)`);
      return;
    }
    const id = `${this.prefix}-${this.nextConnection++}`;
    const conn: Connection = {
      id,
      socket,
      framer: new Dp401Framer(this.settings.maxLineBytes),
      sourceIp,
      closeReason: null,
      warnedUnregistered: false,
      lastJunkWarning: -Infinity,
    };
    this.connections.set(id, conn);
    this.registry.connect(id, sourceIp, this.now());
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 15_000);
    socket.on('data', (chunk: Buffer) => this.receive(conn, chunk));
    socket.on('error', () => {
      conn.closeReason ??= 'socket-error';
    });
    socket.on('close', () => this.closed(conn));
    this.emit('change');
  }

  private refuse(socket: net.Socket, sourceIp: string, message: string): void {
    this.counters.refusedConnections++;
    socket.destroy();
    this.emit('warning', { code: 'refused', message, sourceIp });
  }

  private close(conn: Connection, reason: DisconnectReason): void {
    conn.closeReason ??= reason;
    conn.socket.destroy();
  }

  private closed(conn: Connection): void {
    if (!this.connections.delete(conn.id)) return;
    for (const [eventId, p] of this.pendingAcks) if (p.connectionId === conn.id) this.pendingAcks.delete(eventId);
    const rec = this.registry.disconnect(conn.id);
    if (this.stopped) return;
    const reason = conn.closeReason ?? 'closed-by-scale';
    // A replaced socket lost its id to the new one; report it under that id all the same.
    const deviceId = rec?.deviceId ?? this.replacedIds.get(conn.id) ?? null;
    this.replacedIds.delete(conn.id);
    if (deviceId) {
      this.emit('device', 'device_disconnected', {
        deviceId,
        reason,
        sourceIp: conn.sourceIp,
        timestamp: new Date(this.now()).toISOString(),
      });
    }
    this.emit('change');
  }

  private receive(conn: Connection, chunk: Buffer): void {
    if (this.stopped) return;
    const now = this.now();
    for (const packet of conn.framer.push(chunk)) this.handle(conn, packet, now);
    this.checkHealth();
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
            timestamp: new Date(now).toISOString(),
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
        this.registry.touch(conn.id, now);
        if (now - conn.lastJunkWarning >= JUNK_WARNING_INTERVAL_MS) {
          conn.lastJunkWarning = now;
          this.emit('warning', {
            code: 'junk',
            message: `ignored ${packet.length} unknown byte(s) from ${this.label(conn)}: ${JSON.stringify(packet.sample.toString('latin1'))}`,
            deviceId: this.registry.get(conn.id)?.deviceId,
            sourceIp: conn.sourceIp,
          });
        }
        break;
      case 'overflow':
        this.registry.touch(conn.id, now);
        this.emit('warning', {
          code: 'overflow',
          message: `discarded a ${packet.length}-byte line from ${this.label(conn)}: longer than the ${this.settings.maxLineBytes}-byte buffer cap`,
          deviceId: this.registry.get(conn.id)?.deviceId,
          sourceIp: conn.sourceIp,
        });
        break;
    }
  }

  private label(conn: Connection): string {
    return this.registry.get(conn.id)?.deviceId ?? conn.sourceIp;
  }

  private registerDevice(conn: Connection, deviceId: string, now: number): void {
    const before = this.registry.get(conn.id);
    if (before?.deviceId === deviceId) {
      this.registry.touch(conn.id, now);
      return;
    }
    const result = this.registry.register(conn.id, deviceId, now);
    if (result.replaced) {
      const old = this.connections.get(result.replaced.connectionId);
      if (result.conflict) {
        this.emit('warning', {
          code: 'id-conflict',
          message: `${deviceId} connected from ${conn.sourceIp} while ${result.replaced.sourceIp} was still sending heartbeats as ${deviceId}: two scales are probably configured with the same ID`,
          deviceId,
          sourceIp: conn.sourceIp,
        });
      }
      if (old) {
        this.replacedIds.set(old.id, deviceId);
        this.close(old, 'replaced');
      }
    }
    this.emit('device', 'device_connected', {
      deviceId,
      sourceIp: conn.sourceIp,
      deviceType: 'DP-401',
      connectedAt: new Date(now).toISOString(),
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
    if (!deviceId) {
      // Never drop a weighing for want of a registration.
      deviceId = `UNREGISTERED-${conn.sourceIp}`;
      if (!conn.warnedUnregistered) {
        conn.warnedUnregistered = true;
        this.emit('warning', {
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
      now,
    });
    const key = DuplicateFilter.key(deviceId, event.pluCode, event.weightGrams, event.tareGrams);
    const dup = this.duplicates.check(key, event.localEventId, now);
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
      const pending = this.pendingAcks.get(dup.originalEventId);
      if (pending && this.settings.ackMode === 'store') pending.duplicates++;
      else conn.socket.write(OK);
      this.emit('change');
      return;
    }
    this.registry.weighing(conn.id, event.weightGrams, now);
    this.counters.events++;
    this.lastEvent = event;
    if (this.settings.ackMode === 'receipt') conn.socket.write(OK);
    else this.trackPendingAck(event.localEventId, conn.id, now);
    this.emit('event', event, conn.id);
    this.emit('change');
  }

  private trackPendingAck(localEventId: string, connectionId: string, now: number): void {
    const max = this.options.maxPendingAcks ?? 10_000;
    if (this.pendingAcks.size >= max) {
      const oldest = this.pendingAcks.keys().next().value;
      if (oldest !== undefined) this.pendingAcks.delete(oldest);
      this.emit('warning', {
        code: 'ack-backlog',
        message: `${max} weighings are waiting for the store's acknowledgement: is event-store's "stored" output wired back to dp401-in, or should acknowledge be "on receipt"?`,
      });
    }
    this.pendingAcks.set(localEventId, { connectionId, duplicates: 0, since: now });
  }

  private checkHealth(): void {
    const now = this.now();
    const changes: HealthChange[] = this.registry.evaluate(now);
    for (const ch of changes) {
      const conn = this.connections.get(ch.connectionId);
      if (ch.deviceId) {
        this.emit('device', 'device_status', {
          deviceId: ch.deviceId,
          status: ch.to,
          previousStatus: ch.from,
          sourceIp: conn?.sourceIp,
          timestamp: new Date(now).toISOString(),
        });
      }
      if (ch.to === 'disconnected' && conn) this.close(conn, 'heartbeat-timeout');
    }
    if (changes.length) this.emit('change');
  }

  /** A snapshot for status lines and admin views. */
  devices(): DeviceRecord[] {
    return this.registry.devices();
  }
}
