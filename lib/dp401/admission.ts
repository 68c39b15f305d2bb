import type * as net from 'node:net';
import { TokenBucket } from './token-bucket';
import { allowListMatcher, type Dp401Settings } from './settings';
import type { GatewayWarning } from './gateway-events';
import type { GatewayCounters } from './packet-handler';

/**
 * Who may connect. A connect flood is refused by an accept budget (a token bucket) and, while
 * the budget is spent, by Node itself (`server.maxConnections`), so it costs no socket objects
 * here and the connected scales go on; an address outside the allowed sources is refused; and
 * when every slot is taken, a socket that never identified itself as a scale gives its slot up,
 * so stray sockets can never lock real scales out.
 */

export interface AdmissionOptions {
  /** New connections taken at once (default twice max connections, at least 64)... */
  acceptBurst?: number;
  /** ...and a second after that (default max connections, at least 16); the rest are refused. */
  acceptsPerSecond?: number;
}

export interface AdmissionHost<C> {
  readonly connections: ReadonlyMap<string, C>;
  /** Closes a stray connection at once to free its slot (reason `evicted`). */
  evict(conn: C): void;
  warn(w: GatewayWarning, cause?: string): void;
  readonly counters: GatewayCounters;
}

export class Admission<C extends { sourceIp: string; identified: boolean; closeReason: string | null }> {
  /** New connections, in all: a connect flood is refused, the connected scales are not touched. */
  private readonly accepts: TokenBucket;
  /** The accept budget is spent: Node closes new connections before making sockets of them. */
  private dropping = false;
  private readonly allowed: (address: string) => boolean;

  constructor(
    private readonly server: net.Server,
    private readonly settings: Pick<Dp401Settings, 'maxConnections' | 'allowedSources'>,
    private readonly host: AdmissionHost<C>,
    options: AdmissionOptions,
    now: number,
  ) {
    this.accepts = new TokenBucket(
      options.acceptBurst ?? Math.max(64, 2 * settings.maxConnections),
      options.acceptsPerSecond ?? Math.max(16, settings.maxConnections),
      now,
    );
    this.allowed = allowListMatcher(settings.allowedSources);
  }

  /** May this new socket become a connection? If not, it is destroyed and the refusal counted. */
  admit(socket: net.Socket, sourceIp: string, now: number): boolean {
    if (!this.accepts.take(now)) {
      socket.destroy();
      this.refusedFlood(sourceIp);
      if (!this.dropping) {
        // Until the budget refills (the health timer checks), Node closes new connections itself:
        // a flood then costs no socket objects, timers or buffers here. Connected scales go on.
        this.dropping = true;
        this.server.maxConnections = 1;
      }
      return false;
    }
    if (!this.allowed(sourceIp)) {
      this.refuse(socket, sourceIp, `connection from ${sourceIp} refused: not in the allowed sources`);
      return false;
    }
    if (this.host.connections.size >= this.settings.maxConnections && !this.evictStray()) {
      this.refuse(
        socket,
        sourceIp,
        `connection from ${sourceIp} refused: ${this.settings.maxConnections} connections already open (max connections), every one a scale`,
      );
      return false;
    }
    return true;
  }

  /** A connection Node closed itself (while the budget is spent): no socket was made. */
  refusedFlood(sourceIp: string): void {
    this.host.counters.refusedConnections++;
    this.host.warn(
      {
        code: 'refused',
        message: `refused a connection from ${sourceIp}: more than ${this.accepts.capacity} new connections at once or ${this.accepts.perSecond} a second (a connection flood?); connected scales are not affected`,
        sourceIp,
      },
      'refused flood',
    );
  }

  /** The health timer: once the budget has a token again, Node's own limit is lifted. */
  tick(now: number): void {
    if (this.dropping && this.accepts.available(now) >= 1) {
      this.dropping = false;
      // Node's own limit is off again (it was never set otherwise).
      (this.server as { maxConnections?: number }).maxConnections = undefined;
    }
  }

  private refuse(socket: net.Socket, sourceIp: string, message: string): void {
    this.host.counters.refusedConnections++;
    socket.destroy();
    this.host.warn({ code: 'refused', message, sourceIp });
  }

  /** Every slot is taken: the oldest socket that never identified itself as a scale gives its slot up. */
  private evictStray(): boolean {
    for (const c of this.host.connections.values()) {
      // Map order is accept order: the first stray one is the oldest.
      if (c.identified || c.closeReason !== null) continue;
      this.host.warn({
        code: 'evicted',
        message: `closed the unregistered socket from ${c.sourceIp} to make room: all ${this.settings.maxConnections} connection slots were taken`,
        sourceIp: c.sourceIp,
      });
      this.host.evict(c);
      return true;
    }
    return false;
  }
}
