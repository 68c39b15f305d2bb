import type { EventEmitter } from 'node:events';
import type { Dp401Framer, Packet } from './framer';
import { parseWeighingLine } from './weighing-line';
import { buildWeighingEvent, type WeighingEvent } from './weighing-event';
import type { DeviceRegistry } from './device-registry';
import type { Dp401Settings } from './settings';
import type { Clock } from '../util/clock';
import type { OkLedger } from './ok-ledger';
import type { FlowControl, ReadState } from './flow-control';
import type { ScaleRoster } from './scale-roster';
import type { DisconnectReason, GatewayEvents, GatewayWarning } from './gateway-events';

/**
 * What each packet from a scale means: a registration or an address-mapped id (the roster
 * decides what it does to the scales), a heartbeat, a transfer query, a weighing (the ledger
 * decides whether it is a repeat and when it gets OK), or bytes that make none (warned about).
 * It reports through the gateway's events; the gateway owns the sockets and calls it for each
 * packet flow control lets through.
 */

/** The reply a DP-401 waits for after each weighing and transfer query. */
export const OK_REPLY = Buffer.from('OK\n', 'latin1');

/** A scale's socket, as the gateway keeps it. */
export interface ScaleConnection extends ReadState {
  closeReason: DisconnectReason | null;
  /** Made at the first bytes: a socket that never sends (a flood, a port scan) costs none. */
  framer: Dp401Framer | null;
  warnedUnregistered: boolean;
  /** Registered, address-mapped or sent a weighing: a scale, not a stray socket. */
  identified: boolean;
}

/** Counters a person watching the node wants to see. */
export interface GatewayCounters {
  events: number;
  duplicates: number;
  rejectedLines: number;
  refusedConnections: number;
}

export interface PacketDeps<C extends ScaleConnection> {
  settings: Dp401Settings;
  clock: Clock;
  registry: DeviceRegistry;
  roster: ScaleRoster<C>;
  ledger: OkLedger;
  flow: FlowControl<C>;
  counters: GatewayCounters;
  /** The gateway, whose events report what the packets meant. */
  events: EventEmitter<GatewayEvents>;
  warn(w: GatewayWarning, cause?: string): void;
}

export class PacketHandler<C extends ScaleConnection> {
  /** The last weighing taken (not a repeat). */
  lastEvent: WeighingEvent | null = null;

  constructor(private readonly gw: PacketDeps<C>) {}

  /** One packet, as flow control lets it through. */
  handle(conn: C, packet: Packet, now: number): void {
    switch (packet.kind) {
      case 'register':
        this.registerDevice(conn, packet.deviceId, now);
        break;
      case 'heartbeat': {
        this.ensureMappedId(conn, now);
        const rec = this.gw.registry.heartbeat(conn.id, now);
        if (rec?.deviceId) {
          this.gw.events.emit('device', 'device_heartbeat', {
            deviceId: rec.deviceId,
            status: this.gw.registry.healthAt(rec, now),
            heartbeatCount: rec.heartbeatCount,
            sourceIp: conn.sourceIp,
            timestamp: new Date(this.gw.clock.wall()).toISOString(),
          });
        }
        break;
      }
      case 'transfer-query':
        this.gw.registry.touch(conn.id, now);
        conn.socket.write(OK_REPLY);
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
          `discarded a ${packet.length}-byte line from ${this.label(conn)}: longer than the ${this.gw.settings.maxLineBytes}-byte buffer cap`,
        );
        break;
    }
  }

  /**
   * Bytes that make no packet: warned about (rate-limited). They are a sign of life from a
   * scale, but never from a socket that has not shown it is one.
   */
  private unusable(conn: C, now: number, code: GatewayWarning['code'], message: string): void {
    if (conn.identified) this.gw.registry.touch(conn.id, now);
    this.gw.warn({ code, message, deviceId: this.gw.registry.get(conn.id)?.deviceId, sourceIp: conn.sourceIp });
  }

  private label(conn: C): string {
    return this.gw.registry.get(conn.id)?.deviceId ?? conn.sourceIp;
  }

  private registerDevice(conn: C, deviceId: string, now: number): void {
    conn.identified = true;
    const registered = this.gw.roster.register(conn, deviceId, now);
    if (registered === 'same') return;
    if (registered === 'reported') {
      this.gw.events.emit('device', 'device_connected', {
        deviceId,
        sourceIp: conn.sourceIp,
        deviceType: 'DP-401',
        connectedAt: new Date(this.gw.clock.wall()).toISOString(),
      });
    }
    this.gw.events.emit('change');
  }

  /** A connection that never registered gets its id from the address map, if there is one. */
  private ensureMappedId(conn: C, now: number): string | null {
    const rec = this.gw.registry.get(conn.id);
    if (rec?.deviceId) return rec.deviceId;
    const mapped = this.gw.settings.addressMap.get(conn.sourceIp);
    if (mapped) {
      this.registerDevice(conn, mapped, now);
      return mapped;
    }
    return null;
  }

  private weighing(conn: C, bytes: Buffer, now: number): void {
    const parsed = parseWeighingLine(bytes, this.gw.settings.encoding);
    let deviceId = this.ensureMappedId(conn, now);
    if (!parsed.ok) {
      this.gw.registry.touch(conn.id, now);
      this.gw.counters.rejectedLines++;
      this.gw.events.emit('line-rejected', { error: parsed.error, raw: parsed.raw, deviceId, sourceIp: conn.sourceIp });
      this.gw.events.emit('change');
      return;
    }
    // A well-formed weighing line proves a scale is on this socket.
    conn.identified = true;
    if (!deviceId) {
      // Never drop a weighing for want of a registration.
      deviceId = `UNREGISTERED-${conn.sourceIp}`;
      if (!conn.warnedUnregistered) {
        conn.warnedUnregistered = true;
        this.gw.warn({
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
      weightUnit: this.gw.settings.weightUnit,
      maxCapacityGrams: this.gw.settings.maxCapacityGrams,
      timeZone: this.gw.settings.timeZone,
      now: this.gw.clock.wall(),
    });
    const taken = this.gw.ledger.take(conn.id, event, event.localEventId, now);
    if (taken.duplicate) {
      this.gw.counters.duplicates++;
      const rec = this.gw.registry.get(conn.id);
      if (rec) rec.duplicateCount++;
      this.gw.registry.touch(conn.id, now);
      this.gw.events.emit('device', 'duplicate_suppressed', {
        deviceId,
        pluCode: event.pluCode,
        weightGrams: event.weightGrams,
        tareGrams: event.tareGrams,
        originalEventId: taken.duplicate.originalEventId,
        secondsAfterOriginal: (now - taken.duplicate.firstSeenAt) / 1000,
        raw: event.raw,
        sourceIp: conn.sourceIp,
        receivedAt: event.receivedAt,
      });
      if (taken.okNow) conn.socket.write(OK_REPLY);
      this.gw.events.emit('change');
      return;
    }
    this.gw.registry.weighing(conn.id, event.weightGrams, now);
    this.gw.counters.events++;
    this.lastEvent = event;
    if (taken.okNow) conn.socket.write(OK_REPLY);
    if (taken.dropped) {
      this.gw.flow.released(taken.dropped, now);
      this.gw.warn({
        code: 'ack-backlog',
        message: `${this.gw.ledger.maxWaiting} weighings are waiting for the store's acknowledgement: is event-store's "stored" output wired back to dp401-in, or should acknowledge be "on receipt"?`,
      });
    }
    this.gw.flow.took(now);
    this.gw.events.emit('event', event, conn.id);
    this.gw.events.emit('change');
  }
}
