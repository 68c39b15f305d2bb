import * as assert from 'node:assert/strict';
import { buildWeighingEvent, toGrams } from '../../lib/dp401/weighing-event';
import { parseWeighingLine } from '../../lib/dp401/weighing-line';
import type { WeightUnit } from '../../lib/dp401/settings';
import { weighingBytes } from '../helpers/lines';

const ctx = {
  deviceId: 'SCALE-01',
  sourceIp: '10.0.0.9',
  weightUnit: '1' as WeightUnit,
  maxCapacityGrams: 100_000,
  timeZone: 'Europe/Istanbul',
  now: Date.UTC(2026, 0, 30, 7, 30, 1),
};

function event(over: Parameters<typeof weighingBytes>[0] = {}, c: Partial<typeof ctx> = {}) {
  const r = parseWeighingLine(weighingBytes(over), 'windows-1254');
  assert.ok(r.ok);
  return buildWeighingEvent(r.line, { ...ctx, ...c });
}

describe('buildWeighingEvent', () => {
  it('builds the event payload with a UUIDv7 and the scale time in its zone', () => {
    const e = event();
    assert.match(e.localEventId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(e.deviceId, 'SCALE-01');
    assert.equal(e.pluCode, '00007');
    assert.equal(e.productName, 'KUZU PIRZOLA');
    assert.equal(e.barcode, '2000007015002');
    assert.equal(e.operator, 'AYSE');
    assert.deepEqual([e.weightGrams, e.tareGrams, e.grossGrams], [10000, 2500, 12500]);
    assert.equal(e.scaleTimestamp, '2026-01-30T10:30:00+03:00');
    assert.equal(e.receivedAt, '2026-01-30T07:30:01.000Z');
    assert.equal(e.sourceIp, '10.0.0.9');
    assert.equal(e.weightCheck, undefined);
    assert.ok(e.raw.startsWith('00007,10:30:00,30.01.2026,KUZU PIRZOLA    ,'));
  });

  it('ids are unique and sort in creation order', () => {
    const ids = Array.from({ length: 2000 }, () => event().localEventId);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
  });

  it('converts raw units to whole grams for every unit setting', () => {
    assert.equal(toGrams(12345, '0.1'), 1235);
    assert.equal(toGrams(12345, '1'), 12345);
    assert.equal(toGrams(12345, '10'), 123450);
    assert.equal(toGrams(12345, '100'), 1234500);
    const e = event({ grossRaw: 1250, tareRaw: 50, netRaw: 1200 }, { weightUnit: '10' });
    assert.deepEqual([e.weightGrams, e.tareGrams, e.grossGrams], [12000, 500, 12500]);
  });

  it('flags gross != tare + net but keeps the event', () => {
    const e = event({ grossRaw: 12600, tareRaw: 2500, netRaw: 10000 });
    assert.equal(e.weightGrams, 10000);
    assert.deepEqual(e.weightCheck && [e.weightCheck.grossMismatch, e.weightCheck.overCapacity], [true, false]);
    assert.match(e.weightCheck!.detail, /12600/);
  });

  it('flags a weight over the capacity, and not when the check is off', () => {
    const heavy = { grossRaw: 150000, tareRaw: 0, netRaw: 150000 };
    assert.equal(event(heavy).weightCheck?.overCapacity, true);
    assert.equal(event(heavy, { maxCapacityGrams: 0 }).weightCheck, undefined);
  });
});
