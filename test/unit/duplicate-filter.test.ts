import * as assert from 'node:assert/strict';
import { DuplicateFilter } from '../../lib/dp401/duplicate-filter';

describe('DuplicateFilter', () => {
  const key = DuplicateFilter.key('SCALE-01', '00001', 1500, 200);

  it('matches the same device, PLU, net and tare within the window', () => {
    const f = new DuplicateFilter(5000);
    assert.equal(f.check(key, 'e1', 1000), null);
    assert.deepEqual(f.check(key, 'e2', 2500), { originalEventId: 'e1', firstSeenAt: 1000 });
    assert.equal(f.check(DuplicateFilter.key('SCALE-02', '00001', 1500, 200), 'e3', 2600), null);
    assert.equal(f.check(DuplicateFilter.key('SCALE-01', '00001', 1501, 200), 'e4', 2600), null);
  });

  it('treats the same weight after the window as a new weighing', () => {
    const f = new DuplicateFilter(5000);
    f.check(key, 'e1', 0);
    assert.equal(f.check(key, 'e2', 5001), null);
    assert.equal(f.check(key, 'e3', 6000)?.originalEventId, 'e2');
  });

  it('is off with a zero window', () => {
    const f = new DuplicateFilter(0);
    f.check(key, 'e1', 0);
    assert.equal(f.check(key, 'e2', 1), null);
  });

  it('when full, forgets the oldest weighing still remembered, skipping those already forgotten', () => {
    const f = new DuplicateFilter(60_000, 3);
    const k = (net: number): string => DuplicateFilter.key('SCALE-01', '00001', net, 0);
    for (const [net, id, t] of [
      [1, 'a', 0],
      [2, 'b', 1],
      [3, 'c', 2],
    ] as const)
      f.check(k(net), id, t);
    f.forget('b');
    f.check(k(4), 'd', 3); // a, c, d
    f.check(k(5), 'e', 4); // full: a goes
    assert.equal(f.size, 3);
    assert.equal(f.check(k(3), 'c2', 5)?.originalEventId, 'c');
    assert.equal(f.check(k(4), 'd2', 5)?.originalEventId, 'd');
    assert.equal(f.check(k(1), 'a2', 5), null, 'the oldest was dropped');
  });

  it('keeps working through many weighings that were forgotten (failed stores) within the window', () => {
    const f = new DuplicateFilter(60_000, 100);
    for (let i = 0; i < 100_000; i++) {
      f.check(DuplicateFilter.key('S', '1', i, 0), `e${i}`, i / 10);
      f.forget(`e${i}`);
    }
    assert.equal(f.size, 0);
    assert.equal(f.check(key, 'x1', 10_000), null);
    assert.equal(f.check(key, 'x2', 10_001)?.originalEventId, 'x1');
  });

  it('stays bounded', () => {
    const f = new DuplicateFilter(60_000, 100);
    for (let i = 0; i < 1000; i++) f.check(DuplicateFilter.key('S', '1', i, 0), `e${i}`, i);
    assert.equal(f.size, 100);
  });
});

describe('DuplicateFilter: only stored or pending weighings are originals', () => {
  const key = DuplicateFilter.key('SCALE-01', '00001', 1500, 200);

  it('takes a forgotten weighing (store failed, socket gone) as no original: the resend is new', () => {
    const f = new DuplicateFilter(5000);
    assert.equal(f.check(key, 'e1', 1000), null);
    f.forget('e1');
    assert.equal(f.check(key, 'e2', 1500), null, 'the resend is a new weighing');
    assert.equal(f.check(key, 'e3', 2000)?.originalEventId, 'e2', 'and it is the original now');
    f.forget('unknown-id'); // harmless
    assert.equal(f.size, 1);
  });

  it('never matches an original from the future (a clock that went back)', () => {
    const f = new DuplicateFilter(5000);
    f.check(key, 'e1', 10_000);
    assert.equal(f.check(key, 'e2', 9_000), null);
  });
});
