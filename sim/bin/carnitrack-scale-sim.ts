#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ScaleSimulator } from '../scale-simulator';

const usage = `carnitrack-scale-sim: simulated DP-401 scales for a CarniTrack gateway

  --host H          gateway address (default 127.0.0.1)
  --port P          gateway TCP port (default $TCP_PORT or 3001)
  --scales N        how many scales (default 3), registering as SCALE-01, SCALE-02, ...
  --first N         number of the first scale (default 1)
  --rate R          weighings per second per scale (default 0.5)
  --count N         stop after N weighings per scale (default: run until Ctrl-C)
  --heartbeat S     heartbeat interval in seconds (default 30)
  --duplicates F    probability of the weigh/print repeat (default 0.1)
  --seed N          seed for repeatable runs
  --no-split        write each packet in one piece
  --quiet           print only the summary
`;

function main(): void {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: process.env.TCP_PORT || '3001' },
      scales: { type: 'string', default: '3' },
      first: { type: 'string', default: '1' },
      rate: { type: 'string', default: '0.5' },
      count: { type: 'string' },
      heartbeat: { type: 'string', default: '30' },
      duplicates: { type: 'string', default: '0.1' },
      seed: { type: 'string' },
      'no-split': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) {
      process.stderr.write(`--${name} must be a number >= ${min}, got "${v}"\n\n${usage}`);
      process.exit(2);
    }
    return n;
  };
  const scales = num('scales', values.scales, 1);
  const first = num('first', values.first, 0);
  const count = values.count === undefined ? Infinity : num('count', values.count, 1);
  const seed = values.seed === undefined ? undefined : num('seed', values.seed, 0);

  const sims: ScaleSimulator[] = [];
  let finished = 0;
  const summary = (): void => {
    const t = sims.reduce(
      (a, s) => ({ sent: a.sent + s.stats.sent, acked: a.acked + s.stats.acked, dup: a.dup + s.stats.duplicatesSent, timeouts: a.timeouts + s.stats.timeouts }),
      { sent: 0, acked: 0, dup: 0, timeouts: 0 },
    );
    process.stdout.write(`${t.sent} weighings sent, ${t.acked} acknowledged with OK, ${t.dup} repeats, ${t.timeouts} without OK\n`);
  };
  const stopAll = async (code: number): Promise<void> => {
    await Promise.all(sims.map((s) => s.stop()));
    summary();
    process.exit(code);
  };

  for (let i = 0; i < scales; i++) {
    const deviceId = `SCALE-${String(first + i).padStart(2, '0')}`;
    const sim = new ScaleSimulator({
      host: values.host!,
      port: num('port', values.port, 1),
      deviceId,
      rate: num('rate', values.rate, 0.001),
      maxWeighings: count,
      heartbeatMs: num('heartbeat', values.heartbeat, 0.1) * 1000,
      duplicateProbability: num('duplicates', values.duplicates, 0),
      splitWrites: !values['no-split'],
      seed: seed === undefined ? undefined : seed + i,
    });
    sim.on('connected', () => values.quiet || process.stdout.write(`${deviceId} connected to ${values.host}:${values.port}\n`));
    sim.on('disconnected', () => values.quiet || process.stdout.write(`${deviceId} disconnected, reconnecting\n`));
    sim.on('error', (err) => values.quiet || process.stdout.write(`${deviceId} ${err.message}\n`));
    sim.on('acked', (w) => values.quiet || process.stdout.write(`${deviceId} ${w.pluCode} ${w.productName} ${(w.netGrams / 1000).toFixed(3)} kg OK\n`));
    sim.on('timeout', (w) => process.stdout.write(`${deviceId} ${w.pluCode} no OK from the gateway\n`));
    sim.on('done', () => {
      if (++finished === scales) void stopAll(0);
    });
    sims.push(sim);
    sim.start();
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void stopAll(0));
}

main();
