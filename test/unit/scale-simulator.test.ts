import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { ScaleSimulator } from '../../sim/scale-simulator';

/** A gateway stand-in on a real loopback socket that never answers OK. */
function silentGateway(): Promise<{ server: net.Server; port: number; received: () => string }> {
  let text = '';
  const server = net.createServer((s) => s.on('data', (d) => (text += d.toString('latin1'))).on('error', () => undefined));
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as net.AddressInfo).port, received: () => text })),
  );
}

describe('the scale simulator', () => {
  it('stops in the middle of a split write without a write-after-end error (Ctrl-C in the demo)', async function () {
    this.timeout(20_000);
    const gw = await silentGateway();
    const errors: Error[] = [];
    try {
      // Stop each run as soon as the first piece of a weighing line is on the wire, while the
      // rest of the line is still waiting between pieces. 20 runs, each bounded in time.
      for (let run = 0; run < 20; run++) {
        const sim = new ScaleSimulator({
          host: '127.0.0.1',
          port: gw.port,
          deviceId: 'SCALE-01',
          rate: 200,
          splitWrites: true,
          heartbeatMs: 5,
          transferQueryProbability: 0,
          seed: run,
        });
        sim.on('error', (e: Error) => errors.push(e));
        const before = gw.received().length;
        sim.start();
        const t0 = Date.now();
        while (!/,/.test(gw.received().slice(before)) && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 1));
        await sim.stop();
        await new Promise((r) => setTimeout(r, 20)); // the pieces that were still due
      }
    } finally {
      await new Promise((r) => gw.server.close(r));
    }
    assert.deepEqual(
      errors.map((e) => e.message),
      [],
    );
  });

  it('gives each simulated scale its own pace when no seed is given', () => {
    const a = new ScaleSimulator({ host: '127.0.0.1', port: 1, deviceId: 'SCALE-01', rate: 1 });
    const b = new ScaleSimulator({ host: '127.0.0.1', port: 1, deviceId: 'SCALE-02', rate: 1 });
    const weights = (s: ScaleSimulator): number[] => Array.from({ length: 5 }, () => s.nextWeighing().netGrams);
    assert.notDeepEqual(weights(a), weights(b));
  });

  it('gives each scale of `npm run scale-sim -- --scales 3` (no --seed) its own weights and pace', () => {
    // What the command builds for each scale: `seed: undefined` when --seed is not given.
    const sims = [1, 2, 3].map((i) => new ScaleSimulator({ host: '127.0.0.1', port: 1, deviceId: `SCALE-0${i}`, rate: 1, seed: undefined }));
    const weights = sims.map((s) => Array.from({ length: 5 }, () => s.nextWeighing().netGrams).join(','));
    assert.equal(new Set(weights).size, 3, weights.join(' | '));
  });
});
