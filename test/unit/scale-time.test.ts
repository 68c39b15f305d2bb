import * as assert from 'node:assert/strict';
import { scaleTimestamp, isValidTimeZone } from '../../lib/dp401/scale-time';

describe('scaleTimestamp', () => {
  it('gives the offset of the scale zone', () => {
    assert.equal(scaleTimestamp('30.01.2026', '10:30:00', 'Europe/Istanbul'), '2026-01-30T10:30:00+03:00');
    assert.equal(scaleTimestamp('30.01.2026', '10:30:00', 'UTC'), '2026-01-30T10:30:00+00:00');
  });

  it('follows daylight saving time', () => {
    assert.equal(scaleTimestamp('15.07.2026', '08:00:00', 'Europe/Berlin'), '2026-07-15T08:00:00+02:00');
    assert.equal(scaleTimestamp('15.01.2026', '08:00:00', 'Europe/Berlin'), '2026-01-15T08:00:00+01:00');
    assert.equal(scaleTimestamp('15.01.2026', '08:00:00', 'America/New_York'), '2026-01-15T08:00:00-05:00');
  });

  it('is null for a date that does not exist', () => {
    assert.equal(scaleTimestamp('31.02.2026', '10:00:00', 'UTC'), null);
    assert.equal(scaleTimestamp('01.13.2026', '10:00:00', 'UTC'), null);
    assert.equal(scaleTimestamp('01.01.2026', '24:00:00', 'UTC'), null);
  });

  it('knows IANA zones', () => {
    assert.ok(isValidTimeZone('Europe/Istanbul'));
    assert.ok(!isValidTimeZone('Mars/Olympus'));
    assert.ok(!isValidTimeZone(''));
  });
});
