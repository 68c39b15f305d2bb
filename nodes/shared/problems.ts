import { live, broken, faults } from './live-registry';
import { OK_LATE_MS } from '../../lib/dp401/scale-gateway';
import { classifyLinkReason } from '../../lib/cloud/link-reason';
import type { StoreFigures } from '../../lib/store/store-service';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * What is wrong with the running CarniTrack nodes, as codes with figures: the editor's tab
 * words them in the editor's language (locales/<lang>/carnitrack-sidebar.json, "problem.*")
 * and names the node, so a plant engineer reads "port 3001 is taken by another program", not
 * "EADDRINUSE". Worst first.
 */
export interface Problem {
  nodeId: string;
  name: string;
  severity: 'error' | 'warning';
  code:
    | 'not-running'
    | 'disk-fault'
    | 'port-in-use'
    | 'cannot-listen'
    | 'no-ok'
    | 'scale-stale'
    | 'scale-disconnected'
    | 'key-refused'
    | 'cloud-down'
    | 'disk-low'
    | 'backlog-old'
    | 'write-failed'
    | 'failed-events'
    | 'offline-batches'
    | 'not-sender'
    | 'id-conflict';
  values: Record<string, string | number>;
}

/** `storeFigures`: figures already read for this answer, by node id (each read costs disk I/O). */
export function currentProblems(storeFigures: ReadonlyMap<string, StoreFigures> = new Map()): Problem[] {
  const out: Problem[] = [];
  const add = (e: { nodeId: string; name: string }, severity: Problem['severity'], code: Problem['code'], values: Problem['values'] = {}): void => {
    out.push({ nodeId: e.nodeId, name: e.name, severity, code, values });
  };
  for (const b of broken.values()) add(b, 'error', 'not-running', { type: b.type, problem: b.problem });
  const diskFault = (e: { nodeId: string; name: string; fault?: (err: unknown) => boolean }, err: unknown): void => {
    // Reading the part failed: a disk fault closes it and it lists itself below from now on.
    if (e.fault?.(err)) return;
    add(e, 'error', 'disk-fault', { error: (err as Error).message, attempt: 0, retryS: 0 });
  };
  for (const g of live.gateways.values()) {
    const gw = g.part;
    const bindErr = gw.lastBindError;
    if (bindErr) {
      if (bindErr.code === 'EADDRINUSE') add(g, 'error', 'port-in-use', { port: gw.settings.port });
      else add(g, 'error', 'cannot-listen', { port: gw.settings.port, error: bindErr.code ?? bindErr.message });
    }
    const waitMs = gw.oldestPendingAckMs();
    if (waitMs > OK_LATE_MS) add(g, 'error', 'no-ok', { count: gw.pendingAckCount, seconds: Math.round(waitMs / 1000) });
    for (const d of gw.devices()) if (d.health === 'stale') add(g, 'warning', 'scale-stale', { device: d.deviceId ?? d.sourceIp });
    // A warning, not an error: a scale switched off at the end of a shift is no fault of the gateway.
    for (const m of gw.missingScales())
      add(g, 'warning', 'scale-disconnected', { device: m.deviceId, address: m.address, seconds: Math.round(m.forMs / 1000) });
    // Two scales with one id: their weighings cannot be told apart. An error until it stops.
    for (const c of gw.idConflicts()) add(g, 'error', 'id-conflict', { device: c.deviceId, addresses: c.addresses.join(', ') });
  }
  for (const l of live.links.values()) {
    const s = l.part.currentStatus;
    if (s.connected || s.state === 'stopped' || (s.state === 'connecting' && s.attempt === 0)) continue;
    const why = classifyLinkReason(s.reason);
    if (why === 'key-refused') add(l, 'error', 'key-refused', { url: String(l.resolved.url ?? '') });
    else add(l, 'warning', 'cloud-down', { why, detail: s.reason ?? '', attempt: s.attempt });
  }
  for (const st of live.stores.values()) {
    const fig = storeFigures.get(st.nodeId) ?? st.part.quickFigures();
    if (st.part.sender) add(st, 'warning', 'not-sender', { sender: st.part.sender });
    for (const a of fig.alarmCodes) {
      const { code, ...values } = a;
      add(st, code === 'backlog-old' ? 'warning' : 'error', code, values);
    }
    if (fig.failed) add(st, 'warning', 'failed-events', { count: fig.failed });
  }
  for (const c of [...live.caches.values()]) {
    if (c.part.isCloudReachable) continue;
    let open: number;
    try {
      open = c.part.openBatches().length;
    } catch (err) {
      diskFault(c, err);
      continue;
    }
    add(c, 'warning', 'offline-batches', { count: open });
  }
  const now = Date.now();
  for (const f of faults.values())
    add(f, 'error', 'disk-fault', { error: f.error, attempt: f.attempt, retryS: Math.max(0, Math.round((f.retryAt - now) / 1000)) });
  return out.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
}

interface SidebarCatalog {
  'carnitrack-sidebar': { problem: Record<string, string>; why: Record<string, string> };
}

let english: SidebarCatalog['carnitrack-sidebar'] | null = null;

/**
 * A problem in the words the CarniTrack tab shows in English (the same catalogue), naming its
 * node: for /carnitrack/health and logs, which have no editor to word them.
 */
export function problemText(p: Problem): string {
  if (!english) {
    // dist/nodes/shared → dist/plugins/carnitrack-sidebar/locales/en-US (as the build lays them out).
    const file = path.join(__dirname, '..', '..', 'plugins', 'carnitrack-sidebar', 'locales', 'en-US', 'carnitrack-sidebar.json');
    english = (JSON.parse(fs.readFileSync(file, 'utf8')) as SidebarCatalog)['carnitrack-sidebar'];
  }
  const values: Record<string, string | number> = { ...p.values };
  if (p.code === 'cloud-down') values.why = english.why[String(values.why)] ?? String(values.why);
  if (p.code === 'scale-disconnected') values.for = duration(Number(values.seconds));
  const template = english.problem[p.code] ?? p.code;
  return `${p.name}: ${template.replace(/__([A-Za-z]+)__/g, (_m, k: string) => String(values[k] ?? ''))}`;
}

/** A duration as the tab words it in English: 45 s, 12 min, 3.5 h. */
function duration(s: number): string {
  return s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
}
