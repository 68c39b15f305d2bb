import * as assert from 'node:assert/strict';
import { uuidv7 } from '../../lib/util/uuidv7';

describe('uuidv7 (event and batch ids)', () => {
  const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('gives version-7 ids with the time in the first 48 bits, unique and increasing across many random-pool refills', () => {
    // The generator keeps the last millisecond it used (ids never go backwards): start after it.
    const now = Date.now() + 5;
    const ids: string[] = [];
    // 2,000 ids: eight refills of the 256-id random pool, most within one millisecond.
    for (let i = 0; i < 2000; i++) ids.push(uuidv7(now + Math.floor(i / 500)));
    for (const id of ids) assert.match(id, UUID_V7);
    assert.equal(new Set(ids).size, ids.length, 'no id repeats');
    const sorted = [...ids].sort();
    assert.deepEqual(sorted, ids, 'ids sort in the order they were made');
    assert.equal(parseInt(ids[0].replace(/-/g, '').slice(0, 12), 16), now);
    // The random part differs between ids made in the same millisecond.
    const tails = new Set(ids.slice(0, 500).map((id) => id.slice(19)));
    assert.equal(tails.size, 500);
  });
});
