import * as assert from 'node:assert/strict';
import { RateGate } from '../../lib/util/rate-gate';

describe('RateGate (the bounded live view)', () => {
  it('lets at most the rate through, evenly spaced, and turns the rest away', () => {
    const gate = new RateGate(20); // one per 50 ms
    const passed = Array.from({ length: 1000 }, (_, i) => i).filter((ms) => gate.pass(ms)); // one a millisecond for 1 s
    assert.deepEqual(passed.slice(0, 3), [0, 50, 100]);
    assert.equal(passed.length, 20);
  });

  it('lets nothing through at 0', () => {
    const gate = new RateGate(0);
    assert.equal(
      [0, 1000, 1e9].some((ms) => gate.pass(ms)),
      false,
    );
  });
});
