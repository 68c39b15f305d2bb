import * as assert from 'node:assert/strict';
import { formatOpenMetrics } from '../../lib/metrics/openmetrics';

describe('the OpenMetrics text format', () => {
  it('writes gauges, counters as _total, summaries as _count/_sum, escaped labels and # EOF', () => {
    const text = formatOpenMetrics([
      { name: 'carnitrack_backlog_events', type: 'gauge', help: 'Stored events\nnot acked', samples: [{ labels: { node: 'event "store"\\A' }, value: 3 }] },
      { name: 'carnitrack_events_stored', type: 'counter', help: 'Stored', samples: [{ labels: { node: 'a' }, value: 7 }, { value: 1 }] },
      { name: 'carnitrack_ack_latency_seconds', type: 'summary', help: 'Ack latency', unit: 'seconds', samples: [{ count: 2, sum: 0.25 }] },
      { name: 'carnitrack_empty', type: 'gauge', help: 'No samples', samples: [] },
    ]);
    assert.equal(
      text,
      [
        '# TYPE carnitrack_backlog_events gauge',
        '# HELP carnitrack_backlog_events Stored events\\nnot acked',
        'carnitrack_backlog_events{node="event \\"store\\"\\\\A"} 3',
        '# TYPE carnitrack_events_stored counter',
        '# HELP carnitrack_events_stored Stored',
        'carnitrack_events_stored_total{node="a"} 7',
        'carnitrack_events_stored_total 1',
        '# TYPE carnitrack_ack_latency_seconds summary',
        '# UNIT carnitrack_ack_latency_seconds seconds',
        '# HELP carnitrack_ack_latency_seconds Ack latency',
        'carnitrack_ack_latency_seconds_count 2',
        'carnitrack_ack_latency_seconds_sum 0.25',
        '# TYPE carnitrack_empty gauge',
        '# HELP carnitrack_empty No samples',
        '# EOF',
        '',
      ].join('\n'),
    );
  });

  it('refuses a name or label a scraper could not read', () => {
    assert.throws(() => formatOpenMetrics([{ name: 'bad name', type: 'gauge', help: '', samples: [] }]), /metric name "bad name"/);
    assert.throws(() => formatOpenMetrics([{ name: 'ok', type: 'gauge', help: '', samples: [{ labels: { 'a-b': 'x' }, value: 1 }] }]), /label name "a-b"/);
    assert.throws(() => formatOpenMetrics([{ name: 'carnitrack_age', type: 'gauge', help: '', unit: 'seconds', samples: [] }]), /does not end with its unit/);
  });
});
