import type { Node, NodeAPI, NodeStatus } from 'node-red';
import { markBroken, type Lease } from '../../lib/db/database-pool';
import { isDiskFault } from '../../lib/db/database';
import type { SiteSettings } from '../../lib/site/site-settings';
import type { FieldError } from '../../lib/util/config-fields';
import { siteOf, type SiteConfigNode } from './site-node';
import { statusKey } from './status-text';
import { NODE_TYPE, track, trackBroken, trackFault, type Kind, type PartOf, type ResolvedSettings } from './live-registry';

/** A node's part on the site database, or why there is none. */
export interface Started<T> {
  /** The part running now: null when it did not start, and while it is being reopened after a disk fault. */
  readonly part: T | null;
  site: SiteSettings | null;
  /** The lease the part opened on (null once released, or while there is no part). */
  readonly lease: Lease | null;
  /** While the part is down after a disk fault: the fault (or why the last reopen failed); else null. */
  readonly down: string | null;
  /**
   * An error the node met using its part. A disk fault (isDiskFault, or any error once the
   * connection was given up) closes the part and reopens it, and true is returned; anything
   * else is left to the caller (false).
   */
  fault(err: unknown): boolean;
  /** Unregisters the part (or the not-running entry), stops reopening and releases the database lease: call it in close. */
  release(): void;
}

/** First wait before reopening after a disk fault, and the longest (it doubles in between). */
export const REOPEN_FIRST_MS = 1000;
export const REOPEN_MAX_MS = 30_000;

/**
 * How every node that works on the site database starts: its settings must have parsed, its
 * site must be usable, then its part opens on a lease of the site database. What fails is
 * logged with node.error (`<type>.errors.invalid` or `<type>.errors.database`) and the node is
 * listed as not running in the CarniTrack tab; a part that starts is listed with the settings
 * it resolved.
 *
 * And how every such node lives through a failing disk: when its part meets a disk fault (it
 * reports it through `fault`, or the part emits `fault`, or another node on the same
 * connection did), the connection is marked broken in the pool (closed; the next lease opens
 * the file anew), the part is unbound and closed, its lease released, and the node shows
 * `<type>.status.disk-fault` (red), logs `<type>.errors.disk-fault`, and is listed as a
 * `disk-fault` problem (the tab, /carnitrack/status, /carnitrack/health answers 503). It then
 * tries to open its part again after 1 s, doubling up to 30 s, each failure logged with its
 * reason, until the disk answers; then `bind` ties the node to the new part and the problem goes.
 */
export function startOnSite<K extends Kind>(
  RED: NodeAPI,
  node: Node,
  kind: K,
  /** The node's `site` property (the config node's id) and what its settings parser found wrong. */
  siteId: unknown,
  errors: FieldError[],
  o: {
    open(lease: Lease, site: SiteSettings): PartOf<K>;
    resolved(site: SiteSettings): ResolvedSettings;
    /**
     * Ties the node to a part: listeners, timers. Called at start and after every reopen;
     * returns what undoes it (called before the part is closed after a fault).
     */
    bind?(part: PartOf<K>, fault: (err: unknown) => boolean): () => void;
    /** Closes a part given up after a disk fault (errors are ignored: the disk is gone). */
    close?(part: PartOf<K>): void;
    /** Shows a status (default: node.status). */
    status?(s: NodeStatus): void;
    /**
     * false: the part needs the database only to open (cloud-link reads its edge id): the lease
     * is released at once, and a disk fault elsewhere leaves the part running.
     */
    holdLease?: boolean;
  },
): Started<PartOf<K>> {
  const type = NODE_TYPE[kind];
  const site = siteOf(RED, siteId);
  let lease: Lease | null = null;
  let part: PartOf<K> | null = null;
  let problem: string;
  let unbind: (() => void) | null = null;
  let untrack: () => void = () => undefined;
  let offBroken: (() => void) | null = null;
  let retry: NodeJS.Timeout | null = null;
  let released = false;
  let down: string | null = null;
  const setStatus = o.status ?? ((s: NodeStatus) => node.status(s));

  /** Opens the part on a new lease; throws (with nothing held) when it cannot. A reopen opens only a file that is there. */
  const openPart = (s: SiteConfigNode, reopening: boolean): void => {
    const l = s.lease({ mustExist: reopening });
    try {
      part = o.open(l, s.site!);
    } catch (err) {
      // The connection this lease opened is no good either: the next try opens it anew.
      if (isDiskFault(err)) markBroken(l.db, err as Error);
      l.release();
      throw err;
    }
    if (o.holdLease === false) {
      l.release();
      return;
    }
    lease = l;
    offBroken = l.onBroken((err) => fault(err));
  };

  const bindPart = (s: SiteSettings): void => {
    untrack = track(kind, node, part!, o.resolved(s), (err) => fault(err));
    unbind = o.bind?.(part!, fault) ?? null;
  };

  const fault = (err: unknown): boolean => {
    if (released || !part || !lease) return false;
    if (!(isDiskFault(err) || lease.broken || !lease.db.open)) return false;
    const e = err instanceof Error ? err : new Error(String(err));
    const l = lease;
    const p = part;
    part = null;
    lease = null;
    offBroken?.();
    offBroken = null;
    // Every other part on this connection hears of it through its own lease (onBroken).
    markBroken(l.db, e);
    try {
      unbind?.();
    } catch {
      /* the node's own clean-up; the part goes anyway */
    }
    unbind = null;
    untrack();
    try {
      o.close?.(p);
    } catch {
      /* closing on a dead disk may fail: the part is given up */
    }
    l.release();
    node.error(RED._(`${type}.errors.disk-fault`, { error: e.message, seconds: REOPEN_FIRST_MS / 1000 }));
    schedule(e.message, REOPEN_FIRST_MS, 1);
    return true;
  };

  /** Down after a disk fault: the status, the problem, and the next try in `ms`. */
  const schedule = (error: string, ms: number, attempt: number): void => {
    const seconds = Math.round(ms / 1000);
    down = error;
    setStatus({ fill: 'red', shape: 'ring', text: statusKey(`${type}.status.disk-fault`, { seconds }) });
    untrack();
    untrack = trackFault(node, { error, attempt, retryAt: Date.now() + ms });
    retry = setTimeout(() => reopen(error, ms, attempt), ms);
  };

  const reopen = (lastError: string, ms: number, attempt: number): void => {
    retry = null;
    if (released) return;
    const s = siteOf(RED, siteId);
    try {
      if (typeof s === 'string') throw new Error(s);
      openPart(s, true);
    } catch (err) {
      const next = Math.min(REOPEN_MAX_MS, ms * 2);
      const error = (err as Error).message;
      node.warn(RED._(`${type}.errors.reopen-failed`, { error, attempt, seconds: next / 1000 }));
      schedule(error || lastError, next, attempt + 1);
      return;
    }
    untrack();
    down = null;
    bindPart((s as SiteConfigNode).site!);
    node.log(RED._(`${type}.log.reopened`, { attempt }));
  };

  if (typeof site === 'string' || errors.length) {
    problem = RED._(`${type}.errors.invalid`, { problem: typeof site === 'string' ? site : errors.map((e) => e.message).join('; ') });
  } else {
    try {
      openPart(site, false);
      problem = '';
    } catch (err) {
      problem = RED._(`${type}.errors.database`, { error: (err as Error).message });
    }
  }
  if (problem) node.error(problem);
  const siteSettings = typeof site === 'string' ? null : site.site;
  if (part) bindPart(siteSettings!);
  else untrack = trackBroken(node, problem);
  return {
    get part() {
      return part;
    },
    site: part ? siteSettings : null,
    get lease() {
      return lease;
    },
    get down() {
      return down;
    },
    fault,
    release: () => {
      released = true;
      if (retry) clearTimeout(retry);
      retry = null;
      offBroken?.();
      offBroken = null;
      untrack();
      try {
        unbind?.();
      } finally {
        unbind = null;
        const l = lease;
        lease = null;
        part = null;
        l?.release();
      }
    },
  };
}
