import type * as net from 'node:net';
import type { Packet } from './framer';
import type { DeviceRegistry } from './device-registry';
import type { OkLedger, Release } from './ok-ledger';
import type { GatewayWarning } from './gateway-events';

/**
 * Flow control: which scale sockets are read. A scale whose weighings wait for the store's OK
 * is not read once `maxPerScale` of them wait, and no scale is while `maxTotal` wait in all
 * (read again at half): the scales wait on TCP, so a store that falls behind never fills memory
 * with weighings. What the ledger counts decides; this pauses and resumes sockets, holds the
 * packets of a chunk after the one that reached a bound, and credits the time a socket was not
 * read to its scale's health (its heartbeats wait in the socket meanwhile).
 */

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

/** What flow control needs of a gateway connection. */
export interface ReadState {
  readonly id: string;
  readonly socket: net.Socket;
  readonly sourceIp: string;
  closeReason: string | null;
  /** Monotonic time of accept, for the registration deadline. */
  acceptedAt: number;
  /** We stopped reading its socket: its silence is ours, not the scale's. */
  paused: boolean;
  /** Monotonic time up to which the pause has been credited to its health and deadline. */
  pausedAt: number;
  /** Packets framed from a chunk but not yet handled because a bound was reached (in order). */
  held: Packet[] | null;
  heldFrom: number;
  /** Its packets are being handled right now (settling it again must wait). */
  running: boolean;
}

export interface FlowOptions {
  /** A scale's socket is no longer read while this many of its weighings wait for OK (default 8). */
  maxWaitingPerScale?: number;
  /** No scale's socket is read while this many weighings in all wait for OK; reading resumes at half (default 1,000). */
  maxWaitingTotal?: number;
}

export interface FlowHost<C extends ReadState> {
  /** Every open connection, in accept order. */
  readonly connections: ReadonlyMap<string, C>;
  /** Handles one packet of a connection (the gateway's protocol). */
  handle(conn: C, packet: Packet, now: number): void;
  warn(w: GatewayWarning, cause: string): void;
  change(): void;
}

export class FlowControl<C extends ReadState> {
  /** Too many weighings wait for OK in all: no socket is read until half of them are answered. */
  private blocked = false;
  /** Connections whose socket we paused, in the order they were paused (fair resumption). */
  private readonly pausedConns = new Set<C>();

  /** A scale's socket is no longer read while this many of its weighings wait for OK. */
  readonly maxPerScale: number;
  /** No socket is read while this many weighings wait in all; reading resumes at half. */
  readonly maxTotal: number;

  constructor(
    private readonly host: FlowHost<C>,
    private readonly ledger: OkLedger,
    private readonly registry: DeviceRegistry,
    options: FlowOptions = {},
  ) {
    this.maxPerScale = Math.max(1, options.maxWaitingPerScale ?? MAX_WAITING_PER_SCALE);
    this.maxTotal = Math.max(1, options.maxWaitingTotal ?? MAX_WAITING_TOTAL);
  }

  /** No socket is read: the store is behind. */
  get readingPaused(): boolean {
    return this.blocked;
  }

  get pausedCount(): number {
    return this.pausedConns.size;
  }

  /** A new connection is not read while the store is behind. */
  accepted(conn: C, now: number): void {
    if (this.blocked) this.pause(conn, now);
  }

  /** Packets framed from a chunk of the connection's socket. */
  received(conn: C, packets: Packet[], now: number): void {
    if (conn.held) {
      // Not expected (a paused socket emits no data), but never out of order if it happens.
      conn.held = conn.held.slice(conn.heldFrom).concat(packets);
      conn.heldFrom = 0;
    } else this.run(conn, packets, 0, now);
  }

  /** The ledger took a weighing: stop reading every socket once too many wait in all. */
  took(now: number): void {
    if (!this.blocked && this.ledger.size >= this.maxTotal) this.block(now);
  }

  /**
   * Weighings no longer wait for OK (answered, refused or forgotten): their scales may be read
   * again, and all of them once the store has caught up.
   */
  released(release: Release, now: number): void {
    if (this.blocked && this.ledger.size <= this.maxTotal / 2) {
      this.blocked = false;
      this.host.change();
      // In the order they were paused; one that fills the bound again stops the round.
      for (const c of [...this.pausedConns]) this.settle(c, now);
      return;
    }
    for (const id of release) {
      const c = this.host.connections.get(id);
      if (c) this.settle(c, now);
    }
  }

  /** The connection is gone. */
  forget(conn: C): void {
    this.pausedConns.delete(conn);
    conn.held = null;
  }

  /** The gateway stopped. */
  clear(): void {
    this.pausedConns.clear();
    this.blocked = false;
  }

  /**
   * While we do not read a socket, the scale's heartbeats wait in it: the time paused counts
   * as heard (health) and as not yet elapsed (registration deadline), never as silence.
   */
  creditPaused(now: number): void {
    for (const c of this.pausedConns) this.credit(c, now);
  }

  /** May this connection's next weighing be taken now? Not with too many waiting for OK. */
  private mustWait(conn: C): boolean {
    return this.ledger.holdOks && (this.blocked || this.ledger.waitingOf(conn.id) >= this.maxPerScale);
  }

  /**
   * Handles packets in order; a weighing that may not be taken now (too many waiting for OK)
   * is held with everything after it, and the socket is paused until OKs go out. What is held
   * is bounded by one chunk of the socket.
   */
  private run(conn: C, packets: Packet[], from: number, now: number): void {
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
        this.host.handle(conn, packet, now);
      }
    } finally {
      conn.running = false;
    }
    // Stop reading as soon as the bound is reached, not at the next chunk; and a connection
    // paused while it ran (the store-wide bound) that may go on is read again.
    if (this.mustWait(conn)) this.pausedForScale(conn, now);
    else if (conn.paused && !conn.held) this.settle(conn, now);
  }

  private pause(conn: C, now: number): void {
    if (conn.paused) return;
    conn.paused = true;
    conn.pausedAt = now;
    this.pausedConns.add(conn);
    // The kernel's buffer fills and TCP makes the scale wait: nothing is read, nothing dropped.
    conn.socket.pause();
  }

  /** Takes a paused connection's held packets and reads its socket again, if the bounds allow. */
  private settle(conn: C, now: number): void {
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

  private credit(conn: C, now: number): void {
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
    for (const c of this.host.connections.values()) if (c.closeReason === null) this.pause(c, now);
    this.host.warn(
      {
        code: 'paused',
        message: `stopped reading all ${this.host.connections.size} scale socket(s): ${this.ledger.size} weighings wait for the store's OK (the store is behind, or its "stored" output is not wired back to dp401-in); the scales wait, nothing is lost; reading resumes at ${Math.floor(this.maxTotal / 2)}`,
      },
      'paused',
    );
    this.host.change();
  }

  private pausedForScale(conn: C, now: number): void {
    if (conn.paused) return;
    this.pause(conn, now);
    if (this.blocked) return; // the store-wide pause said so already
    const deviceId = this.registry.get(conn.id)?.deviceId;
    this.host.warn(
      {
        code: 'paused',
        message: `stopped reading ${deviceId ?? conn.sourceIp}: ${this.ledger.waitingOf(conn.id)} of its weighings wait for the store's OK (the scale waits; reading resumes as OKs go out)`,
        deviceId,
        sourceIp: conn.sourceIp,
      },
      'paused scale',
    );
  }
}
