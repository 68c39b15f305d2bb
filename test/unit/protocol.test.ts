import * as assert from 'node:assert/strict';
import { ProtocolCodec } from '../../lib/protocol/codec';
import { MESSAGES } from '../../lib/protocol/messages';
import { Backoff } from '../../lib/cloud/backoff';

const frame = (type: string, payload: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type, payload, timestamp: '2026-01-30T10:00:00Z', messageId: 'm-1', ...extra });

describe('protocol codec (JSON Schemas with ajv)', () => {
  const codec = new ProtocolCodec(1024);

  it('accepts every Cloud message of the quickref, with sessionId as an alias', () => {
    const ok: Array<[string, unknown]> = [
      ['session_started', { cloudSessionId: 's', deviceId: 'SCALE-01', animalId: 'a', animalTag: 'A-1', animalSpecies: 'Dana', operatorId: 'o' }],
      ['session_started', { sessionId: 's', deviceId: 'SCALE-01' }],
      ['session_ended', { cloudSessionId: 's', deviceId: 'SCALE-01', reason: 'completed' }],
      ['session_paused', { cloudSessionId: 's', deviceId: 'SCALE-01' }],
      ['session_resumed', { sessionId: 's' }],
      ['event_ack', { localEventId: 'e', cloudEventId: 'c', status: 'accepted' }],
      ['event_ack', { localEventId: 'e', cloudEventId: 'c', status: 'duplicate' }],
      ['event_rejected', { localEventId: 'e', reason: 'Invalid PLU code' }],
      ['registered', { edgeId: 'edge-1', siteId: 'site-01' }],
      ['config_update', { edgeId: 'edge-1', anything: 1 }],
      ['ping', {}],
    ];
    for (const [type, payload] of ok) {
      const d = codec.decode(frame(type, payload), 'to-edge');
      assert.ok(d.ok, `${type}: ${JSON.stringify(d)}`);
    }
  });

  it('rejects bad frames with a reason, never throwing', () => {
    const cases: Array<[string | Buffer, RegExp]> = [
      ['not json {', /not JSON/],
      [JSON.stringify({ type: 'event_ack', payload: {} }), /bad envelope/],
      [frame('teleport', {}), /unknown message type "teleport"/],
      [frame('event_ack', { localEventId: 'e', status: 'maybe' }), /event_ack payload.*status/],
      [frame('session_started', { deviceId: 'SCALE-01' }), /session_started payload/],
      [frame('event', { localEventId: 'e', deviceId: 'd', weightGrams: 1, receivedAt: 'x' }), /not a message the Cloud sends/],
      [Buffer.alloc(2048, 0x20), /over the 1024-byte limit/],
      [frame('event_ack', { localEventId: 'e', status: 'accepted' }, { extra: true }), /bad envelope/],
    ];
    for (const [f, reason] of cases) {
      const d = codec.decode(f, 'to-edge');
      assert.equal(d.ok, false);
      assert.match((d as { reason: string }).reason, reason);
    }
  });

  it('checks outgoing Edge messages', () => {
    const wide = new ProtocolCodec();
    const event = {
      localEventId: 'e',
      deviceId: 'SCALE-01',
      weightGrams: 1500,
      receivedAt: '2026-01-30T10:00:00Z',
      cloudSessionId: null,
      offlineMode: false,
      offlineBatchId: null,
      raw: 'kept',
    };
    assert.equal(wide.check('event', event, 'to-cloud'), null);
    assert.equal(wide.check('event_batch', { events: [event, event] }, 'to-cloud'), null);
    assert.match(wide.check('event', { ...event, weightGrams: 1.5 }, 'to-cloud')!, /weightGrams/);
    assert.match(wide.check('offline_batch_end', { batchId: 'b', deviceId: 'd', startedAt: 'x', endedAt: 'y' }, 'to-cloud')!, /eventCount/);
    const text = wide.encode('event', event, 'edge-1', 'to-cloud', true);
    const back = JSON.parse(text);
    assert.deepEqual([back.type, back.edgeId, back.payload], ['event', 'edge-1', event]);
    assert.throws(() => wide.encode('session_started', {}, null, 'to-cloud', true), /not a message the Edge sends/);
  });

  it('knows which messages the store re-sends and which are device status', () => {
    assert.deepEqual(
      Object.keys(MESSAGES)
        .filter((t) => MESSAGES[t].storeBacked)
        .sort(),
      ['event', 'event_batch', 'offline_batch_end', 'offline_batch_start'],
    );
    assert.deepEqual(
      Object.keys(MESSAGES)
        .filter((t) => MESSAGES[t].deviceStatus)
        .sort(),
      ['device_connected', 'device_disconnected', 'device_heartbeat'],
    );
  });
});

describe('Backoff', () => {
  it('doubles its ceiling from 1 s to 60 s, with jitter between 1 s and the ceiling', () => {
    const low = new Backoff(1000, 60_000, () => 0);
    const high = new Backoff(1000, 60_000, () => 0.999999);
    const lows = Array.from({ length: 9 }, () => low.next());
    const highs = Array.from({ length: 9 }, () => high.next());
    assert.deepEqual(lows, [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]);
    assert.deepEqual(highs, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    high.reset();
    assert.equal(high.next(), 1000);
  });
});
