import * as assert from 'node:assert/strict';
import { WarningLimiter } from '../../lib/util/warning-limiter';

describe('WarningLimiter (one line per cause per minute, with a count)', () => {
  it('lets the first warning of a cause through and counts the rest of the minute in one line', () => {
    const l = new WarningLimiter(60_000);
    assert.deepEqual(l.offer('refused', 'from 10.0.0.1', 0), { cause: 'refused', message: 'from 10.0.0.1', count: 1 });
    for (let i = 2; i <= 500; i++) assert.equal(l.offer('refused', `from 10.0.0.${i % 250}`, i * 10), null);
    assert.equal(l.offer('junk', 'junk bytes', 100)?.message, 'junk bytes', 'another cause has its own minute');
    assert.deepEqual(l.flush(59_999), []);
    const lines = l.flush(60_000);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].count, 499);
    assert.match(lines[0].message, /^from 10\.0\.0\.0 \(499 times in the last 60 s\)$/);
    assert.deepEqual(l.flush(200_000), [], 'a quiet cause is forgotten');
    assert.equal(l.offer('refused', 'again', 200_001)?.message, 'again');
  });

  it('stays bounded in causes', () => {
    const l = new WarningLimiter(60_000, 10);
    for (let i = 0; i < 1000; i++) l.offer(`cause-${i}`, 'x', i);
    assert.ok(l.flush(0).length === 0);
  });
});
