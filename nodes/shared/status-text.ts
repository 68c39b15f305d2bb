/**
 * Node status texts the editor shows in its own language, not the runtime's. Node-RED's editor
 * translates a status text that is one of the node's message keys (core nodes send
 * "node-red:common.status.connected" the same way). Figures ride after a "?" as a query
 * string; the CarniTrack editor plugin (plugins/carnitrack-sidebar) fills them in. A Status
 * node in a flow receives the key itself, as it does from core nodes.
 *
 * Keep the English texts short (about 20 characters): a status wider than its node overlaps
 * its neighbours. Details belong in the CarniTrack tab and the help.
 */
export type StatusValues = Record<string, string | number>;

export function statusKey(key: string, values?: StatusValues): string {
  if (!values || !Object.keys(values).length) return key;
  return `${key}?${new URLSearchParams(Object.entries(values).map(([k, v]) => [k, String(v)])).toString()}`;
}

/** The key and values of a status text made by statusKey (tests and the editor read it back). */
export function parseStatusKey(text: string): { key: string; values: Record<string, string> } {
  const q = text.indexOf('?');
  if (q < 0) return { key: text, values: {} };
  return { key: text.slice(0, q), values: Object.fromEntries(new URLSearchParams(text.slice(q + 1))) };
}
