import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KnownScales, knownScalesFile } from '../../lib/dp401/known-scales';
import { CoalescedSave } from '../../lib/util/coalesced-save';
import { ManualClock } from '../helpers/clock';
import { tempDirs } from '../helpers/temp';
import { waitFor } from '../helpers/node-red';

/** A connection's live figures, as the DeviceRegistry keeps them (monotonic times). */
const live = (sourceIp: string, at: number, weight: { at: number; grams: number } | null = null) => ({
  sourceIp,
  connectedAt: at,
  lastHeardAt: at,
  lastWeighingAt: weight?.at ?? null,
  lastWeightGrams: weight?.grams ?? null,
});

describe('KnownScales: every scale ever seen, connected or not', () => {
  it('keeps a scale after its disconnect, with its address, last weight and when it was last heard', () => {
    const clock = new ManualClock();
    const k = new KnownScales();
    const t0 = clock.mono();
    k.connected('SCALE-01', live('10.0.0.1', t0), t0);
    const seen = live('10.0.0.1', t0, { at: t0 + 5_000, grams: 1250 });
    seen.lastHeardAt = t0 + 30_000;
    k.disconnected('SCALE-01', seen, 'closed-by-scale', t0 + 31_000);
    const s = k.get('SCALE-01')!;
    assert.deepEqual(
      [s.connected, s.address, s.lastWeightGrams, s.lastWeighingAt, s.lastSeenAt, s.disconnectedAt, s.disconnectReason],
      [false, '10.0.0.1', 1250, t0 + 5_000, t0 + 30_000, t0 + 31_000, 'closed-by-scale'],
    );
    // A connection without a weighing keeps the last weight of the one before.
    k.connected('SCALE-01', live('10.0.0.9', t0 + 40_000), t0 + 40_000);
    k.disconnected('SCALE-01', live('10.0.0.9', t0 + 50_000), 'heartbeat-timeout', t0 + 50_000);
    assert.deepEqual([k.get('SCALE-01')!.lastWeightGrams, k.get('SCALE-01')!.address], [1250, '10.0.0.9']);
  });

  it('is bounded: over the limit the scale gone longest is dropped, never a connected one', () => {
    const k = new KnownScales(3);
    k.connected('A', live('10.0.0.1', 0), 0);
    k.connected('B', live('10.0.0.2', 0), 0);
    k.connected('C', live('10.0.0.3', 0), 0);
    k.disconnected('B', live('10.0.0.2', 10), 'closed-by-scale', 10);
    k.disconnected('C', live('10.0.0.3', 5), 'closed-by-scale', 20);
    k.connected('D', live('10.0.0.4', 30), 30);
    assert.deepEqual(
      k
        .list()
        .map((s) => s.deviceId)
        .sort(),
      ['A', 'B', 'D'],
      'C was heard last longest ago',
    );
    k.connected('E', live('10.0.0.5', 40), 40);
    assert.deepEqual(
      k
        .list()
        .map((s) => s.deviceId)
        .sort(),
      ['A', 'D', 'E'],
    );
    // All connected: none to drop (connections are bounded by max connections).
    k.connected('F', live('10.0.0.6', 50), 50);
    assert.equal(k.size, 4);
  });

  it('forgets only a scale that is not connected', () => {
    const k = new KnownScales();
    k.connected('SCALE-01', live('10.0.0.1', 0), 0);
    assert.equal(k.forget('SCALE-01'), false);
    k.disconnected('SCALE-01', live('10.0.0.1', 0), 'closed-by-scale', 1);
    assert.equal(k.forget('SCALE-01'), true);
    assert.equal(k.forget('SCALE-01'), false);
    assert.equal(k.size, 0);
  });

  it('comes back from its saved text across a restart: every scale disconnected, times on the wall clock', () => {
    const clock = new ManualClock();
    const k = new KnownScales();
    const t0 = clock.mono();
    k.connected('SCALE-01', live('10.0.0.1', t0), t0);
    k.disconnected('SCALE-01', live('10.0.0.1', t0, { at: t0 + 1_000, grams: 800 }), 'closed-by-scale', t0 + 2_000);
    k.connected('SCALE-02', live('10.0.0.2', t0), t0);
    clock.advance(60_000);
    // SCALE-02 is still on when the text is made (a crash after this save: no clean stop).
    const text = k.serialize(clock, (id) => (id === 'SCALE-02' ? live('10.0.0.2', t0 + 55_000, { at: t0 + 50_000, grams: 2000 }) : undefined));
    const saved = JSON.parse(text) as { scales: Array<Record<string, unknown>> };
    assert.equal(saved.scales.find((s) => s.deviceId === 'SCALE-01')!.lastSeenAt, new Date(clock.wall() - 60_000).toISOString());

    // Another process: its monotonic clock starts elsewhere; an hour has passed.
    const later = new ManualClock(clock.wall() + 3_600_000);
    later.advance(5_000_000);
    const back = new KnownScales();
    assert.equal(back.load(text, later), 0);
    const one = back.get('SCALE-01')!;
    const two = back.get('SCALE-02')!;
    const wallOf = (t: number): number => later.wall() - (later.mono() - t);
    assert.equal(one.connected, false);
    assert.equal(wallOf(one.lastSeenAt), clock.wall() - 60_000);
    assert.equal(wallOf(one.disconnectedAt!), clock.wall() - 58_000);
    assert.deepEqual([one.lastWeightGrams, one.disconnectReason, one.address], [800, 'closed-by-scale', '10.0.0.1']);
    assert.equal(two.connected, false);
    assert.equal(two.disconnectReason, 'gateway-stopped');
    assert.equal(wallOf(two.disconnectedAt!), clock.wall() - 5_000, 'gone since it was last heard');
    assert.equal(two.lastWeightGrams, 2000);
  });

  it('skips unreadable records and refuses a text that is not a known-scales file', () => {
    const clock = new ManualClock();
    const k = new KnownScales();
    const good = { deviceId: 'SCALE-03', address: '10.0.0.3', state: 'disconnected', lastSeenAt: new Date(clock.wall()).toISOString() };
    assert.equal(k.load(JSON.stringify({ format: 1, scales: [good, { deviceId: 7 }, null, { ...good, deviceId: 'X', lastSeenAt: 'never' }] }), clock), 3);
    assert.deepEqual(
      k.list().map((s) => s.deviceId),
      ['SCALE-03'],
    );
    assert.throws(() => new KnownScales().load('{"scales": []}', clock), /not a known-scales file/);
    assert.throws(() => new KnownScales().load('{"format":1,"scales":[', clock), SyntaxError);
  });
});

describe('CoalescedSave: one atomic write per burst of changes', () => {
  const dirs = tempDirs();
  after(() => dirs.cleanup());

  it('writes once for a burst, again for changes made during a write, and what is pending at close', async () => {
    const file = path.join(dirs.make(), 'sub', 'known.json');
    let version = 0;
    let reads = 0;
    const save = new CoalescedSave(
      file,
      20,
      () => {
        reads++;
        return `{"v":${version}}`;
      },
      (err) => assert.fail(err),
    );
    for (let i = 0; i < 100; i++) {
      version++;
      save.schedule();
    }
    await waitFor(() => fs.existsSync(file), 'the first write');
    await waitFor(() => fs.readFileSync(file, 'utf8') === '{"v":100}', 'the content');
    assert.equal(reads, 1, 'a hundred changes, one write');
    version++;
    save.schedule();
    await save.close();
    assert.equal(fs.readFileSync(file, 'utf8'), '{"v":101}');
    assert.equal(fs.readFileSync(`${file}.bak`, 'utf8'), '{"v":100}', 'the one before is kept');
    assert.equal(reads, 2);
    save.schedule();
    await save.close();
    assert.equal(reads, 2, 'nothing after close');
    assert.deepEqual(fs.readdirSync(path.dirname(file)).sort(), ['known.json', 'known.json.bak'], 'no temp file left');
  });

  it('reports a failed write and tries again at the next change', async () => {
    const dir = dirs.make();
    const blocker = path.join(dir, 'not-a-dir');
    fs.writeFileSync(blocker, 'x');
    const errors: string[] = [];
    const save = new CoalescedSave(
      path.join(blocker, 'known.json'),
      5,
      () => '{}',
      (err) => errors.push(err.message),
    );
    save.schedule();
    await waitFor(() => errors.length === 1, 'the error');
    save.schedule();
    await save.close();
    assert.equal(errors.length, 2);
  });
});

describe('knownScalesFile', () => {
  it("names each dp401-in node's file in the user directory, and none without one", () => {
    assert.equal(knownScalesFile('/nr', 'a1.b-2'), path.join('/nr', 'carnitrack', 'known-scales-a1.b-2.json'));
    assert.equal(knownScalesFile('/nr', '../x y'), path.join('/nr', 'carnitrack', 'known-scales-.._x_y.json'), 'an id cannot leave the folder');
    assert.equal(knownScalesFile(undefined, 'a1'), null);
  });
});
