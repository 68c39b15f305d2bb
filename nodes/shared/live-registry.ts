import type { ScaleGateway } from '../../lib/dp401/scale-gateway';
import type { StoreService } from '../../lib/store/store-service';
import type { SessionCache } from '../../lib/sessions/session-cache';
import type { CloudClient } from '../../lib/cloud/cloud-client';

/**
 * The running CarniTrack parts of this Node-RED, for the admin views and the health route.
 * Each node adds itself when it starts and removes itself in close(), so a redeploy never
 * leaves a stale entry behind.
 */
export interface LiveEntry<T> {
  nodeId: string;
  name: string;
  part: T;
}

export const live = {
  gateways: new Map<string, LiveEntry<ScaleGateway>>(),
  stores: new Map<string, LiveEntry<StoreService>>(),
  caches: new Map<string, LiveEntry<SessionCache>>(),
  links: new Map<string, LiveEntry<CloudClient>>(),
};

type Kind = keyof typeof live;

/** Adds a part; returns the function that removes it (call it in close). */
export function track<K extends Kind>(kind: K, node: { id: string; name?: string }, part: (typeof live)[K] extends Map<string, LiveEntry<infer T>> ? T : never): () => void {
  const map = live[kind] as Map<string, LiveEntry<unknown>>;
  map.set(node.id, { nodeId: node.id, name: node.name || node.id, part });
  return () => {
    if (map.get(node.id)?.part === part) map.delete(node.id);
  };
}
