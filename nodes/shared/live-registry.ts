import type { ScaleGateway } from '../../lib/dp401/scale-gateway';
import type { StoreService } from '../../lib/store/store-service';
import type { SessionCache } from '../../lib/sessions/session-cache';
import type { CloudClient } from '../../lib/cloud/cloud-client';
import type { SiteSettings } from '../../lib/site/site-settings';
import type { PluService } from '../../lib/plu/plu-service';

/**
 * The running CarniTrack parts of this Node-RED, for the admin views and the health route.
 * Each node adds itself when it starts and removes itself in close(), so a redeploy never
 * leaves a stale entry behind.
 */

/** Settings as the node resolved them (environment variables and defaults filled in). */
export type ResolvedSettings = Record<string, string | number | boolean | null>;

export interface LiveEntry<T> {
  nodeId: string;
  name: string;
  part: T;
  resolved: ResolvedSettings;
  /** Tell the node that using its part failed (a disk fault closes and reopens it; see startup.ts). */
  fault?: (err: unknown) => boolean;
}

/** A node whose part was closed after a disk fault, and its next try to open it again. */
export interface FaultedNode {
  nodeId: string;
  name: string;
  type: string;
  /** The fault, or why the last try to reopen failed. */
  error: string;
  attempt: number;
  /** When the next try is (epoch ms). */
  retryAt: number;
}

/** A node that could not start, and why: the tab names it in words. */
export interface BrokenNode {
  nodeId: string;
  name: string;
  type: string;
  problem: string;
}

export const live = {
  gateways: new Map<string, LiveEntry<ScaleGateway>>(),
  stores: new Map<string, LiveEntry<StoreService>>(),
  caches: new Map<string, LiveEntry<SessionCache>>(),
  links: new Map<string, LiveEntry<CloudClient>>(),
  sites: new Map<string, LiveEntry<SiteSettings>>(),
  plus: new Map<string, LiveEntry<PluService>>(),
};

export const broken = new Map<string, BrokenNode>();

/** Nodes down after a disk fault, reopening by themselves. */
export const faults = new Map<string, FaultedNode>();

export type Kind = keyof typeof live;

/** The node type behind each kind of part. */
export const NODE_TYPE: Record<Kind, string> = {
  gateways: 'dp401-in',
  stores: 'event-store',
  caches: 'session-cache',
  links: 'cloud-link',
  sites: 'carnitrack-site',
  plus: 'plu-out',
};

/** Every running node with the settings it resolved, for the tab. */
export function resolvedSettings(): Array<{ type: string; nodeId: string; name: string; resolved: ResolvedSettings }> {
  return (Object.keys(live) as Kind[]).flatMap((kind) =>
    [...(live[kind] as Map<string, LiveEntry<unknown>>).values()].map((e) => ({ type: NODE_TYPE[kind], nodeId: e.nodeId, name: e.name, resolved: e.resolved })),
  );
}
export type PartOf<K extends Kind> = (typeof live)[K] extends Map<string, LiveEntry<infer T>> ? T : never;

/** Adds a part; returns the function that removes it (call it in close). */
export function track<K extends Kind>(
  kind: K,
  node: { id: string; name?: string },
  part: PartOf<K>,
  resolved: ResolvedSettings = {},
  fault?: (err: unknown) => boolean,
): () => void {
  const map = live[kind] as Map<string, LiveEntry<unknown>>;
  map.set(node.id, { nodeId: node.id, name: node.name || node.id, part, resolved, fault });
  return () => {
    if (map.get(node.id)?.part === part) map.delete(node.id);
  };
}

/** Records a node that could not start; returns the function that forgets it (call it in close). */
export function trackBroken(node: { id: string; name?: string; type: string }, problem: string): () => void {
  const entry: BrokenNode = { nodeId: node.id, name: node.name || node.id, type: node.type, problem };
  broken.set(node.id, entry);
  return () => {
    if (broken.get(node.id) === entry) broken.delete(node.id);
  };
}

/** Records a node down after a disk fault; returns the function that forgets it. */
export function trackFault(node: { id: string; name?: string; type: string }, f: Pick<FaultedNode, 'error' | 'attempt' | 'retryAt'>): () => void {
  const entry: FaultedNode = { nodeId: node.id, name: node.name || node.id, type: node.type, ...f };
  faults.set(node.id, entry);
  return () => {
    if (faults.get(node.id) === entry) faults.delete(node.id);
  };
}

/** The running part of kind `kind` on node `nodeId`, or null. */
export function livePart<K extends Kind>(kind: K, nodeId: string): PartOf<K> | null {
  const e = (live[kind] as Map<string, LiveEntry<unknown>>).get(nodeId);
  return e ? (e.part as PartOf<K>) : null;
}

/** The entry of a running node of any kind, by node id. */
export function findLive(nodeId: string): (LiveEntry<unknown> & { kind: Kind }) | null {
  for (const kind of Object.keys(live) as Kind[]) {
    const e = (live[kind] as Map<string, LiveEntry<unknown>>).get(nodeId);
    if (e) return { ...e, kind };
  }
  return null;
}
