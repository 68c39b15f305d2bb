import * as assert from 'node:assert/strict';
import { merged } from '../../lib/util/merged';

describe('merged (the tagged event: an event with its session fields)', () => {
  it('gives what a spread of both gives: later fields win, nested values are shared, the inputs are untouched', () => {
    const event = { localEventId: 'e1', deviceId: 'SCALE-01', cloudSessionId: null as string | null, flags: ['0', 'N'] };
    const tags = { cloudSessionId: 'sess-1', offlineMode: false };
    const out = merged(event, tags);
    assert.deepEqual(out, { ...event, ...tags });
    assert.deepEqual(Object.keys(out), ['localEventId', 'deviceId', 'cloudSessionId', 'flags', 'offlineMode']);
    assert.equal(out.flags, event.flags);
    assert.equal(event.cloudSessionId, null);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
  });

  it('keeps a "__proto__" key of a parsed payload as an own key, never as the prototype', () => {
    const event = JSON.parse('{"localEventId":"e1","__proto__":{"deviceId":"INHERITED"}}') as Record<string, unknown>;
    const out = merged(event, { offlineMode: true }) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal(out.deviceId, undefined);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { deviceId: 'INHERITED' });
  });
});
