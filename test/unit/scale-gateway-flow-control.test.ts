import * as assert from 'node:assert/strict';
import { MAX_WAITING_PER_SCALE, type ScaleGateway, type GatewayOptions } from '../../lib/dp401/scale-gateway';
import type { WeighingEvent } from '../../lib/dp401/weighing-event';
import type { RawDp401Config } from '../../lib/dp401/settings';
import type { SqliteDatabase } from '../../lib/db/database';
import type { StoreService } from '../../lib/store/store-service';
import type { ManualClock } from '../helpers/clock';
import { waitFor, sleep, ScaleClient } from '../helpers/node-red';
import { GatewayRig } from '../helpers/gateway-rig';
import { weighingBytes, CRLF } from '../helpers/lines';
import { tempDirs } from '../helpers/temp';

/**
 * Flow control over real TCP sockets: the gateway stops reading a scale that has too many
 * weighings waiting for the store's OK, and every scale while the store as a whole is behind.
 * The store is a real SQLite StoreService, but the test decides when each weighing goes to it
 * (`commit`), so that "the store is behind" is a state the test holds, not a race.
 */
describe('ScaleGateway flow control (real sockets, real SQLite)', function () {
  this.timeout(60_000);
  const dirs = tempDirs();
  let rig: GatewayRig;
  let gateway: ScaleGateway;
  let svc: StoreService;
  let db: SqliteDatabase;
  let clock: ManualClock;
  /** Weighings the gateway has passed on and the test has not yet committed. */
  let waiting: Array<{ event: WeighingEvent; session: string }>;
  let taken: number;
  let devices: Array<{ topic: string; payload: Record<string, unknown> }>;

  async function start(options: GatewayOptions = {}, config: RawDp401Config = {}): Promise<void> {
    rig = await GatewayRig.create(dirs.make(), config, options);
    ({ gateway, svc, db, clock } = rig);
    waiting = [];
    taken = 0;
    devices = [];
    gateway.on('event', (event, session) => {
      waiting.push({ event, session });
      taken++;
    });
    gateway.on('device', (topic, payload) => devices.push({ topic, payload }));
    await rig.listen();
  }

  /** Stores the `n` oldest weighings handed over and, once each is committed, OKs it. */
  async function commit(n = waiting.length): Promise<void> {
    for (const w of waiting.splice(0, n)) {
      await svc.submit(w.event);
      gateway.acknowledge(w.session, w.event.localEventId);
    }
  }

  const scale = (id: string): Promise<ScaleClient> => rig.scale(id);

  /** `count` weighings in one write, with distinct weights (no duplicates among them). */
  function lines(count: number, from = 1000): Buffer {
    return Buffer.concat(
      Array.from({ length: count }, (_, i) => Buffer.concat([weighingBytes({ netRaw: from + i, grossRaw: from + i + 2500, tareRaw: 2500 }), CRLF])),
    );
  }

  const rows = (): number => (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;

  afterEach(async () => {
    await rig.stop();
    dirs.cleanup();
  });

  it('a client that writes without reading OKs is held at the per-scale bound; every line is stored and acknowledged once acks come, none before', async () => {
    await start();
    const s = await scale('SCALE-01');
    const total = 60;
    s.write(lines(total));
    await waitFor(() => taken === MAX_WAITING_PER_SCALE, `${MAX_WAITING_PER_SCALE} weighings taken`);
    await sleep(200); // a hundred health checks; the rest of the lines are in the kernel or held
    assert.equal(taken, MAX_WAITING_PER_SCALE, 'no more weighings taken while that many wait for OK');
    assert.equal(gateway.pausedSocketCount, 1, 'its socket is no longer read');
    assert.equal(s.oks, 0, 'nothing acknowledged before the store acknowledged it');
    assert.equal(gateway.readingPaused, false, 'one scale over its bound does not stop the others');

    // Acks trickle in: each OK follows a commit, and the gateway never holds more than the bound.
    for (let round = 0; round < 200 && s.oks < total; round++) {
      await commit(3);
      assert.ok(gateway.pendingAckCount <= MAX_WAITING_PER_SCALE, `at most ${MAX_WAITING_PER_SCALE} wait, got ${gateway.pendingAckCount}`);
      await waitFor(() => s.oks === rows(), `OKs to catch up with the rows (${s.oks} / ${rows()})`);
      if (waiting.length === 0) await waitFor(() => waiting.length > 0 || s.oks === total, 'more weighings to be taken');
    }
    assert.equal(rows(), total, 'every line stored');
    assert.equal(s.oks, total, 'every line acknowledged');
    assert.equal(gateway.pausedSocketCount, 0, 'read again once nothing waits');
  });

  it('stops reading every socket while too many wait in all, and reads them all again at half', async () => {
    await start({ maxWaitingTotal: 6, maxWaitingPerScale: 4 });
    const a = await scale('SCALE-01');
    const b = await scale('SCALE-02');
    const c = await scale('SCALE-03');
    a.write(lines(10, 1000));
    await waitFor(() => taken === 4, 'A at its own bound');
    b.write(lines(10, 2000));
    await waitFor(() => taken === 6, 'the store-wide bound reached');
    assert.equal(gateway.readingPaused, true);
    assert.equal(gateway.pausedSocketCount, 3, 'C is not read either, though none of its weighings wait');
    c.write(lines(10, 3000));
    const late = await rig.scale();
    late.write('SCALE-04');
    await sleep(200);
    assert.equal(taken, 6, 'nothing more taken from anyone');
    assert.equal(gateway.pausedSocketCount, 4, 'a socket accepted meanwhile is not read either');
    assert.equal(
      gateway.devices().some((d) => d.deviceId === 'SCALE-04'),
      false,
      'its registration waits in the socket',
    );
    assert.equal(a.oks + b.oks + c.oks, 0);

    await commit(2); // 4 still wait: above half of 6
    await sleep(100);
    assert.equal(gateway.readingPaused, true);
    assert.equal(taken, 6);
    await commit(1); // 3 wait: half, reading resumes
    await waitFor(() => taken > 6, 'reading to resume');
    for (let round = 0; round < 300 && a.oks + b.oks + c.oks < 30; round++) {
      await commit();
      assert.ok(gateway.pendingAckCount <= 6, `at most 6 wait in all, got ${gateway.pendingAckCount}`);
      await waitFor(() => a.oks + b.oks + c.oks === rows(), 'OKs to catch up with the rows');
      if (waiting.length === 0) await waitFor(() => waiting.length > 0 || a.oks + b.oks + c.oks === 30, 'more weighings to be taken');
    }
    assert.deepEqual([a.oks, b.oks, c.oks], [10, 10, 10], 'every weighing of every scale acknowledged');
    assert.equal(rows(), 30);
    await waitFor(() => gateway.devices().some((d) => d.deviceId === 'SCALE-04'), 'the late scale to register');
    assert.equal(gateway.readingPaused, false);
  });

  it('a paused healthy scale is not taken for dead: the pause does not count as its silence', async () => {
    await start({ maxWaitingPerScale: 2 });
    const s = await scale('SCALE-01');
    s.write(lines(5));
    await waitFor(() => gateway.pausedSocketCount === 1, 'the socket to be paused');
    clock.advance(120_000); // longer than "close after" (90 s); its heartbeats would be in the socket
    await sleep(200);
    assert.equal(s.closed, false, 'not closed as heartbeat-timeout');
    assert.deepEqual(
      devices.filter((d) => d.topic === 'device_status' || d.topic === 'device_disconnected'),
      [],
      'not reported stale',
    );
    for (let round = 0; round < 20 && s.oks < 5; round++) {
      await commit();
      await waitFor(() => waiting.length > 0 || s.oks === 5, 'the rest of the weighings');
    }
    // Read again, the health check counts from there: silence now is the scale's.
    clock.advance(46_000);
    await waitFor(() => devices.some((d) => d.topic === 'device_status' && d.payload.status === 'stale'), 'stale after 45 s of real silence');
  });

  it('in "on receipt" mode nothing waits, so nothing is paused', async () => {
    await start({ maxWaitingPerScale: 2, maxWaitingTotal: 2 }, { ackMode: 'receipt' });
    const s = await scale('SCALE-01');
    s.write(lines(20));
    await s.waitForOks(20);
    assert.equal(taken, 20);
    assert.equal(gateway.pausedSocketCount, 0);
  });
});
