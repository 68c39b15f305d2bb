import type { Node } from 'node-red';
import type { Lease } from '../../lib/db/database-pool';
import type { SiteSettings } from '../../lib/site/site-settings';

/** What a carnitrack-site config node offers the nodes that use it. */
export interface SiteConfigNode extends Node {
  /** null when the site's settings are invalid or its database cannot be opened. */
  readonly site: SiteSettings | null;
  readonly problem: string | null;
  /** A lease on the shared site database; release it in the user's close handler. `mustExist`: see openDatabase. */
  lease(o?: { mustExist?: boolean }): Lease;
}

/** The site a node is configured with, or the reason there is none. */
export function siteOf(RED: { nodes: { getNode(id: string): Node | null } }, id: unknown): SiteConfigNode | string {
  const node = typeof id === 'string' && id ? (RED.nodes.getNode(id) as SiteConfigNode | null) : null;
  if (!node) return 'no CarniTrack site is configured: choose or add one in the node settings';
  if (!node.site) return `the CarniTrack site is not usable: ${node.problem}`;
  return node;
}
