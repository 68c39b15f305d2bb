import * as assert from 'node:assert/strict';
import type { ScaleGateway, GatewayWarning } from '../../lib/dp401/scale-gateway';
import type { RawDp401Config } from '../../lib/dp401/settings';
import type { SqliteDatabase } from '../../lib/db/database';
import type { StoreService } from '../../lib/store/store-service';
import type { ManualClock } from '../helpers/clock';
import { waitFor, sleep, type ScaleClient } from '../helpers/node-red';
import { GatewayRig } from '../helpers/gateway-rig';
import { weighingBytes, CRLF } from '../helpers/lines';
import { tempDirs } from '../helpers/temp';

/**
 * The gateway over real TCP sockets with a real SQLite store behind it, wired the way the
 * default flow wires dp401-in and event-store (OK only after the commit, `notStored` on a
 * failed one), and a hand-driven clock: every interval is measured on `clock.mono`, the
 * wall clock only stamps. Health checks run on a short real timer that reads that clock.
 */
describe('ScaleGateway under faults (real sockets, real SQLite, injected clocks)', function () {
  this.timeout(60_000);
  const dirs = tempDirs();
  let rig: GatewayRig;
  let gateway: ScaleGateway;
  let svc: StoreService;
  let db: SqliteDatabase;
  let clock: ManualClock;
  let warnings: GatewayWarning[];
  let devices: Array<{ topic: string; payload: Record<string, unknown> }>;

  /** `nack: false`: the store's refusal never reaches the gateway (only the socket closing tells). */
  async function start(config: RawDp401Config = {}, { nack = true } = {}): Promise<void> {
    rig = await GatewayRig.create(dirs.make(), config);
    ({ gateway, svc, db, clock } = rig);
    warnings = [];
    devices = [];
    gateway.on('warning', (w) => warnings.push(w));
    gateway.on('device', (topic, payload) => devices.push({ topic, payload }));
    gateway.on('event', (event, session) => {
      svc.submit(event).then(
        () => gateway.acknowledge(session, event.localEventId),
        () => nack && gateway.notStored(event.localEventId),
      );
    });
    await rig.listen();
  }

  const scale = (id?: string): Promise<ScaleClient> => rig.scale(id);

  const rows = (): number => (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;

  afterEach(async () => {
    await rig.stop();
    dirs.cleanup();
  });

  describe('clock steps', () => {
    it('after the wall clock steps back 2 h, the same weight again is a new weighing, stored and OK', async () => {
      await start();
      const s = await scale('SCALE-01');
      await s.weigh(1500);
      clock.advance(6000); // longer than the 5 s duplicate window
      clock.stepWall(-2 * 3600_000);
      await s.weigh(1500);
      assert.equal(rows(), 2, 'both weighings are stored');
      assert.equal(gateway.counters.duplicates, 0);
      // Within the window it is still the label-print repeat, whatever the wall clock did.
      clock.advance(1000);
      clock.stepWall(-3600_000);
      await s.weigh(1500);
      assert.equal(rows(), 2);
      assert.equal(gateway.counters.duplicates, 1);
    });

    it('after the wall clock steps forward 3 h, healthy scales stay connected and online', async () => {
      await start();
      const scales = [await scale('SCALE-01'), await scale('SCALE-02'), await scale('SCALE-03')];
      clock.stepWall(3 * 3600_000);
      await sleep(200); // ten health checks
      assert.deepEqual(
        scales.map((c) => c.closed),
        [false, false, false],
      );
      assert.deepEqual(
        devices.filter((d) => d.topic === 'device_status' || d.topic === 'device_disconnected'),
        [],
      );
      for (const c of scales) await c.weigh(700);
      assert.equal(rows(), 3);
      // The health thresholds do run on the monotonic clock.
      clock.advance(46_000);
      await waitFor(() => devices.filter((d) => d.topic === 'device_status' && d.payload.status === 'stale').length === 3, 'three stale scales');
      assert.deepEqual(
        scales.map((c) => c.closed),
        [false, false, false],
      );
    });
  });

  describe('connection slots', () => {
    it('gives a real scale a slot while junk sockets hold them all, and closes the junk after the registration deadline', async () => {
      await start({ maxConnections: '4', registrationTimeoutS: '30' });
      const junk = [await scale(), await scale(), await scale(), await scale()];
      const trickle = setInterval(() => {
        for (const j of junk) if (!j.closed) j.write('\x01');
      }, 10);
      try {
        await waitFor(() => gateway.registry.connectionCount === 4, 'four junk sockets');
        const s = await scale('SCALE-07');
        await s.weigh(2500);
        assert.equal(junk.filter((j) => j.closed).length, 1, 'the oldest stray socket made room');
        assert.equal(junk[0].closed, true);
        // Twenty more strays: each takes a stray's slot, never the scale's.
        for (let i = 0; i < 20; i++) junk.push(await scale());
        await sleep(100);
        assert.equal(s.closed, false);
        await s.weigh(2600);
        assert.equal(warnings.filter((w) => w.code === 'evicted').length, 1, 'one warning line for the minute');
        // Junk is no sign of life: at the deadline every stray socket is closed, the scale is not.
        clock.advance(31_000);
        await waitFor(() => junk.every((j) => j.closed), 'every junk socket closed');
        assert.equal(s.closed, false);
        await s.weigh(2700);
        assert.equal(rows(), 3);
        assert.equal(warnings.filter((w) => w.code === 'registration-timeout').length, 1);
        // After the minute, the counts held back are reported in one line each.
        clock.advance(60_000);
        await waitFor(() => warnings.some((w) => w.code === 'evicted' && /\(\d+ times in the last 60 s\)/.test(w.message)), 'the evicted count');
      } finally {
        clearInterval(trickle);
      }
    });

    it('refuses a socket when every slot holds a registered scale, with one warning line a minute', async () => {
      await start({ maxConnections: '2' });
      const a = await scale('SCALE-01');
      const b = await scale('SCALE-02');
      const refused: ScaleClient[] = [];
      for (let i = 0; i < 20; i++) refused.push(await scale());
      await waitFor(() => refused.every((r) => r.closed), 'every extra socket refused');
      assert.equal(warnings.filter((w) => w.code === 'refused').length, 1);
      assert.equal(gateway.counters.refusedConnections, 20);
      await a.weigh(100);
      await b.weigh(200);
    });

    it('does not count junk as a sign of life of a socket that never registered', async () => {
      await start({ registrationTimeoutS: '0' });
      const stray = await scale();
      const s = await scale('SCALE-01');
      const trickle = setInterval(() => {
        if (!stray.closed) stray.write('\x01');
        if (!s.closed) s.write('HB');
      }, 10);
      try {
        // 100 s in steps of 10 s: the scale's heartbeats are heard at every step, the junk is not.
        for (let i = 0; i < 10; i++) {
          await sleep(40);
          clock.advance(10_000);
        }
        await stray.waitForClose();
        await sleep(50);
        assert.equal(s.closed, false, 'the heartbeating scale stays');
      } finally {
        clearInterval(trickle);
      }
    });

    it('keeps an address-mapped scale that never registers past the deadline', async () => {
      await start({ registrationTimeoutS: '30', addressMap: '127.0.0.1=SCALE-42' });
      const s = await scale();
      clock.advance(31_000);
      await sleep(100);
      assert.equal(s.closed, false);
      await s.weigh(4200);
      assert.equal((db.prepare('SELECT device_id AS d FROM events').get() as { d: string }).d, 'SCALE-42');
    });
  });

  describe('registration ids', () => {
    it('refuses SCALE-100 explicitly and leaves the real SCALE-10 connected', async () => {
      await start();
      const ten = await scale('SCALE-10');
      const hundred = await scale();
      hundred.write('SCALE-100HB');
      await waitFor(() => warnings.some((w) => w.code === 'bad-register'), 'the refusal');
      assert.match(warnings.find((w) => w.code === 'bad-register')!.message, /refused registration "SCALE-100"/);
      await sleep(50);
      assert.equal(ten.closed, false);
      assert.deepEqual(
        gateway.devices().map((d) => d.deviceId),
        ['SCALE-10'],
      );
      assert.equal(devices.filter((d) => d.topic === 'device_disconnected').length, 0);
      await ten.weigh(1000);
    });
  });

  describe('OK means stored', () => {
    /** Caps the database so the next write fails with SQLITE_FULL, as a full disk would. */
    const fill = (): void => {
      const pages = db.pragma('page_count', { simple: true }) as number;
      db.pragma(`max_page_count = ${pages}`);
    };
    const unfill = (): void => void db.pragma('max_page_count = 1073741823');
    const bigWeighing = (net: number): Buffer =>
      Buffer.concat([weighingBytes({ netRaw: net, grossRaw: net + 2500, tareRaw: 2500, operator: 'X'.repeat(48) }), CRLF]);

    /** Fills the database, then weighs until one weighing is refused; returns its weight. */
    async function refuseOne(s: ScaleClient, firstWeight: number): Promise<number> {
      fill();
      for (let i = 0; i < 100; i++) {
        const oks = s.oks;
        svc.lastWriteError = null;
        s.write(bigWeighing(firstWeight + i));
        await waitFor(() => s.oks > oks || svc.lastWriteError !== null, 'an OK or a refusal');
        if (svc.lastWriteError !== null) {
          await sleep(100);
          assert.equal(s.oks, oks, 'no OK for the refused weighing');
          return firstWeight + i;
        }
      }
      throw new Error('the capped database never refused a weighing');
    }

    it('a weighing refused by a full disk and resent on a new connection is stored before its OK', async () => {
      await start({}, { nack: false });
      let s = await scale('SCALE-01');
      await s.weigh(100);
      const refusedAt = await refuseOne(s, 5000);
      // The scale gives up on the socket and resends on a new one within the window.
      s.destroy();
      unfill();
      s = await scale('SCALE-01');
      const rowsAtOk: number[] = [];
      s.socket.on('data', () => rowsAtOk.push(rows()));
      s.write(bigWeighing(refusedAt));
      await s.waitForOks(1);
      assert.equal(gateway.counters.duplicates, 0, 'the resend is no duplicate of an unstored weighing');
      const stored = db.prepare('SELECT COUNT(*) AS n FROM events WHERE weight_grams = ?').get(refusedAt) as { n: number };
      assert.equal(stored.n, 1, 'the refused weighing is in the database');
      assert.equal(rowsAtOk[0], rows(), 'its row was committed when the OK arrived');
    });

    it('a weighing refused by a full disk and resent on the same connection is stored before its OK', async () => {
      await start();
      const s = await scale('SCALE-01');
      const refusedAt = await refuseOne(s, 7000);
      unfill();
      const oks = s.oks;
      s.write(bigWeighing(refusedAt));
      await s.waitForOks(oks + 1);
      assert.equal(gateway.counters.duplicates, 0);
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM events WHERE weight_grams = ?').get(refusedAt) as { n: number }).n, 1);
    });

    it('a label-print repeat of a stored weighing on a new connection gets OK at once, stored once', async () => {
      await start();
      let s = await scale('SCALE-01');
      await s.weigh(3100);
      s.destroy();
      s = await scale('SCALE-01');
      await s.weigh(3100);
      assert.equal(rows(), 1);
      assert.equal(gateway.counters.duplicates, 1);
    });
  });
});
