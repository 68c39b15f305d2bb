import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import type { GatewayWarning } from '../../lib/dp401/scale-gateway';
import { waitFor, sleep } from '../helpers/node-red';
import { GatewayRig } from '../helpers/gateway-rig';
import { tempDirs } from '../helpers/temp';

/**
 * A connect flood over real TCP sockets while a real scale weighs into a real SQLite store.
 * The accept budget runs on a hand-driven clock: it refills only when the test says so.
 */
describe('ScaleGateway under a connect flood (real sockets, real SQLite)', function () {
  this.timeout(60_000);
  const dirs = tempDirs();
  let rig: GatewayRig;

  afterEach(async () => {
    await rig.stop();
    dirs.cleanup();
  });

  /** `count` connections from `localAddress`, `parallel` at a time, each closed once connected (or refused). */
  async function flood(count: number, parallel: number, localAddress: string): Promise<number> {
    let started = 0;
    let connected = 0;
    const one = (): Promise<void> =>
      new Promise((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port: rig.port, localAddress });
        s.on('connect', () => {
          connected++;
          s.destroy();
        });
        s.on('error', () => undefined);
        s.on('close', () => resolve());
      });
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (started < count) {
          started++;
          await one();
        }
      }),
    );
    return connected;
  }

  it("a flood from one address is refused without stopping a real scale's weighings being stored and OK'd", async () => {
    rig = await GatewayRig.create(dirs.make(), {}, { acceptBurst: 10, acceptsPerSecond: 5 });
    const { gateway, svc, db, clock } = rig;
    const warnings: GatewayWarning[] = [];
    const devices: string[] = [];
    gateway.on('warning', (w) => warnings.push(w));
    gateway.on('device', (topic, payload) => devices.push(`${topic} ${payload.deviceId}`));
    gateway.on('event', (event, session) => {
      void svc.submit(event).then(() => gateway.acknowledge(session, event.localEventId));
    });
    await rig.listen();

    const scale = await rig.scale('SCALE-01', '127.0.0.1');

    const total = 600;
    let weighed = 0;
    const weighing = (async () => {
      for (; weighed < 40; weighed++) await scale.weigh(1000 + weighed);
    })();
    const connected = await flood(total, 20, '127.0.0.3');
    await weighing;

    assert.equal(weighed, 40);
    assert.equal(scale.oks, 40, 'every weighing acknowledged during the flood');
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n, 40, 'and stored');
    assert.ok(connected > 0, 'the flood did connect (TCP completes before the gateway decides)');
    // The clock did not move: the burst of 10 (SCALE-01 took one) was all the flood got.
    // The kernel completes a connection before the gateway takes it from the queue: wait for the queue.
    await waitFor(() => gateway.counters.refusedConnections >= total - 9, `at least ${total - 9} of ${total} refused`);
    const refusedLines = warnings.filter((w) => w.code === 'refused');
    assert.equal(refusedLines.length, 1, 'one log line for the flood (the rest counted)');
    assert.match(refusedLines[0].message, /from 127\.0\.0\.3: more than 10 new connections at once or 5 a second/);
    assert.deepEqual(devices, ['device_connected SCALE-01'], 'sockets that never registered tell the flow nothing');
    assert.equal(scale.closed, false);

    // Once the budget refills, a scale connects again.
    clock.advance(2000);
    await sleep(100); // five health checks: the first lifts the refusal
    const next = await rig.scale('SCALE-02', '127.0.0.2'); // registers after the flood
    await next.weigh(5000);
  });
});
