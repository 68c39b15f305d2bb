import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { MetricFamily } from './openmetrics';

/**
 * The process's own figures for /metrics, under the names Prometheus' Node.js clients use: its
 * memory, so a gateway slowly filling its RAM shows it (and how much of it is JavaScript heap),
 * and how late the event loop ran since the last scrape, so a stall shows too (every scale's
 * OK and the Cloud link wait on that loop).
 */

/** Event-loop delay, sampled every 10 ms from the first scrape on; reset at each scrape. */
let loopDelay: IntervalHistogram | null = null;

export function processMetrics(): MetricFamily[] {
  const m = process.memoryUsage();
  const bytes = (name: string, help: string, value: number): MetricFamily => ({ name, type: 'gauge', help, unit: 'bytes', samples: [{ value }] });
  const seconds = (name: string, help: string, ns: number): MetricFamily => ({ name, type: 'gauge', help, unit: 'seconds', samples: [{ value: ns / 1e9 }] });
  const families = [
    bytes('process_resident_memory_bytes', 'Resident memory of the Node-RED process', m.rss),
    bytes('nodejs_heap_size_total_bytes', 'JavaScript heap reserved', m.heapTotal),
    bytes('nodejs_heap_size_used_bytes', 'JavaScript heap in use', m.heapUsed),
    bytes('nodejs_external_memory_bytes', 'Memory of C++ objects bound to JavaScript (buffers among them)', m.external),
  ];
  if (loopDelay && loopDelay.count > 0) {
    families.push(
      seconds(
        'nodejs_eventloop_lag_p99_seconds',
        'Event-loop delay since the last scrape, 99th percentile (sampled every 10 ms, as prom-client does: about 0.010 when the loop is free)',
        loopDelay.percentile(99),
      ),
      seconds(
        'nodejs_eventloop_lag_max_seconds',
        'Event-loop delay since the last scrape, longest (sampled every 10 ms: about 0.010 when the loop is free)',
        loopDelay.max,
      ),
    );
  }
  if (!loopDelay) {
    loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
  } else loopDelay.reset();
  return families;
}
