/**
 * The OpenMetrics text format (what Prometheus scrapes), with no knowledge of Node-RED.
 * https://github.com/OpenObservability/OpenMetrics: one `# TYPE`/`# HELP` pair per family,
 * counters sampled as `<name>_total`, summaries as `<name>_count`/`<name>_sum`, `# EOF` last.
 */

export type Labels = Record<string, string>;

export interface Sample {
  labels?: Labels;
  value: number;
}

export type MetricFamily =
  | { name: string; type: 'gauge' | 'counter'; help: string; unit?: string; samples: Sample[] }
  | { name: string; type: 'summary'; help: string; unit?: string; samples: Array<{ labels?: Labels; count: number; sum: number }> };

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return '';
  for (const [k] of entries) if (!LABEL.test(k)) throw new Error(`metric label name "${k}" is not valid`);
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** The text of a scrape: every family in order, then `# EOF`. */
export function formatOpenMetrics(families: MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`metric name "${f.name}" is not valid`);
    // OpenMetrics: a family with a unit has it as the last part of its name.
    if (f.unit && !f.name.endsWith(`_${f.unit}`)) throw new Error(`metric name "${f.name}" does not end with its unit "_${f.unit}"`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    if (f.unit) out.push(`# UNIT ${f.name} ${f.unit}`);
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    if (f.type === 'summary') {
      for (const s of f.samples) {
        out.push(`${f.name}_count${labelText(s.labels)} ${number(s.count)}`);
        out.push(`${f.name}_sum${labelText(s.labels)} ${number(s.sum)}`);
      }
    } else {
      const suffix = f.type === 'counter' ? '_total' : '';
      for (const s of f.samples) out.push(`${f.name}${suffix}${labelText(s.labels)} ${number(s.value)}`);
    }
  }
  out.push('# EOF');
  return out.join('\n') + '\n';
}
