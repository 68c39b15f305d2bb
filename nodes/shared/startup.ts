import type { Node, NodeAPI } from 'node-red';
import type { Lease } from '../../lib/db/database-pool';
import type { SiteSettings } from '../../lib/site/site-settings';
import type { FieldError } from '../../lib/util/config-fields';
import { siteOf } from './site-node';
import { NODE_TYPE, track, trackBroken, type Kind, type PartOf, type ResolvedSettings } from './live-registry';

/** A node's part on the site database, or why there is none. */
export interface Started<T> {
  part: T | null;
  site: SiteSettings | null;
  /** The lease the part opened on (null once released, or if it did not start). */
  readonly lease: Lease | null;
  /** Unregisters the part (or the not-running entry) and releases the database lease: call it in close. */
  release(): void;
}

/**
 * How every node that works on the site database starts: its settings must have parsed, its
 * site must be usable, then its part opens on a lease of the site database. What fails is
 * logged with node.error (`<type>.errors.invalid` or `<type>.errors.database`) and the node is
 * listed as not running in the CarniTrack tab; a part that starts is listed with the settings
 * it resolved.
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
  },
): Started<PartOf<K>> {
  const type = NODE_TYPE[kind];
  const site = siteOf(RED, siteId);
  let lease: Lease | null = null;
  let part: PartOf<K> | null = null;
  let problem: string;
  if (typeof site === 'string' || errors.length) {
    problem = RED._(`${type}.errors.invalid`, { problem: typeof site === 'string' ? site : errors.map((e) => e.message).join('; ') });
  } else {
    try {
      lease = site.lease();
      part = o.open(lease, site.site!);
      problem = '';
    } catch (err) {
      lease?.release();
      lease = null;
      problem = RED._(`${type}.errors.database`, { error: (err as Error).message });
    }
  }
  if (problem) node.error(problem);
  const siteSettings = typeof site === 'string' ? null : site.site;
  const untrack = part ? track(kind, node, part, o.resolved(siteSettings!)) : trackBroken(node, problem);
  return {
    part,
    site: part ? siteSettings : null,
    get lease() {
      return lease;
    },
    release: () => {
      untrack();
      const l = lease;
      lease = null;
      l?.release();
    },
  };
}
