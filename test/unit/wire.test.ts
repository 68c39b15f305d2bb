import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ackFrom,
  ackMessage,
  cloudConnectedOf,
  cloudStatusFrom,
  cloudStatusMessage,
  dp401ConnectionOf,
  eventAcksFrom,
  eventAcksMessage,
  eventMessage,
  eventToTagFrom,
  liveWeightFrom,
  liveWeightMessage,
  notStoredFrom,
  notStoredMessage,
  protocolMessage,
  toCloudFrom,
  WireError,
  type Received,
} from '../../lib/protocol/wire';
import { pluCodeToDelete, catalogItemsFrom } from '../../lib/plu/plu-item';
import { taggedEvent } from '../helpers/temp';

const localesDir = path.resolve(__dirname, '..', '..', '..', 'locales', 'en-US');

/** The English text of `<type>.errors.<key>` with its placeholders filled, as Node-RED's i18n fills them. */
function catalogueText(type: string, key: string, values: Record<string, string>): string {
  const file = JSON.parse(fs.readFileSync(path.join(localesDir, `${type}.json`), 'utf8')) as Record<string, { errors: Record<string, string> }>;
  const text = file[type].errors[key];
  assert.ok(text, `${type}.errors.${key} is in the catalogue`);
  return text.replace(/__(\w+)__/g, (_m, name: string) => values[name] ?? `__${name}__`);
}

/** The WireError `read` throws, checked against the receiving node's catalogue (its English message is that text). */
function refusal(read: () => unknown, receiver: string): WireError {
  let caught: unknown;
  try {
    read();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof WireError, `a WireError, got ${String(caught)}`);
  assert.equal(caught.message, catalogueText(receiver, caught.key, caught.values));
  return caught;
}

describe('the messages on our own wires (lib/protocol/wire)', () => {
  it('an event carries the connection its reply goes back to, and both replies carry it back with the weighing', () => {
    const event = taggedEvent({ deviceId: 'SCALE-07' });
    const msg = eventMessage(event, 'conn-3');
    assert.deepEqual(msg, { topic: 'event', payload: event, _session: { type: 'dp401', id: 'conn-3' } });
    assert.equal(dp401ConnectionOf(msg), 'conn-3');
    // Later nodes pass the message on with other properties (Node-RED adds _msgid).
    const passed: Received = { ...msg, _msgid: 'm1' } as Received;

    const ack = ackMessage(passed, true);
    assert.deepEqual(ack, { topic: 'ack', payload: { localEventId: event.localEventId, deviceId: 'SCALE-07', inserted: true }, _session: msg._session });
    assert.deepEqual(ackFrom(ack), { connectionId: 'conn-3', localEventId: event.localEventId });

    const nack = notStoredMessage(passed, 'disk full');
    assert.deepEqual(nack, {
      topic: 'not_stored',
      payload: { localEventId: event.localEventId, deviceId: 'SCALE-07', error: 'disk full' },
      _session: msg._session,
    });
    assert.deepEqual(notStoredFrom(nack), { localEventId: event.localEventId, error: 'disk full' });
  });

  it("copies another node's _session as it came, and none when there is none", () => {
    const tcp = { type: 'tcp', id: 'x' };
    assert.deepEqual(ackMessage({ payload: { localEventId: 'e1' }, _session: tcp }, false)._session, tcp);
    assert.equal(dp401ConnectionOf({ _session: tcp }), null);
    assert.equal('_session' in notStoredMessage({ payload: {} }, 'x'), false);
  });

  it("refuses an ack without dp401-in's _session and a not_stored without its event, in dp401-in's words", () => {
    refusal(() => ackFrom({ topic: 'ack', payload: { localEventId: 'e1' } }), 'dp401-in');
    refusal(() => ackFrom({ topic: 'ack', _session: { type: 'dp401', id: 7 } }), 'dp401-in');
    const e = refusal(() => notStoredFrom({ topic: 'not_stored', payload: { error: 'x' } }), 'dp401-in');
    assert.equal(e.message, "a weighing was not stored (msg.payload.localEventId is missing): no OK sent, the scale's resend will be stored as new");
    assert.deepEqual(notStoredFrom({ payload: { localEventId: 'e2' } }), { localEventId: 'e2', error: 'unknown' });
    assert.deepEqual(ackFrom({ _session: { type: 'dp401', id: 'c' } }), { connectionId: 'c' }, 'no id: the connection answers its oldest');
  });

  it('reads the event to tag by its device, refusing one without, in session-cache`s words', () => {
    assert.equal(eventToTagFrom({ payload: { deviceId: 'SCALE-01', weightGrams: 5 } }).deviceId, 'SCALE-01');
    refusal(() => eventToTagFrom({ payload: { deviceId: '' } }), 'session-cache');
    refusal(() => eventToTagFrom({ payload: 'SCALE-01' }), 'session-cache');
  });

  it('says the whole link status in cloud_status, and reads its `connected` (alone from a flow), refusing a message without it', () => {
    const s = { connected: true, state: 'connected' as const, edgeId: 'edge-1', reason: null, attempt: 2, nextRetryMs: null };
    const msg = cloudStatusMessage({ ...s });
    assert.deepEqual(msg, { topic: 'cloud_status', payload: s });
    assert.deepEqual(cloudStatusFrom(msg), { connected: true });
    assert.deepEqual(cloudStatusFrom({ payload: { connected: false } }), { connected: false });
    assert.equal(cloudConnectedOf({ payload: { connected: 'yes' } }), null);
    // The same words in both receivers' catalogues.
    refusal(() => cloudStatusFrom({ payload: { connected: 'yes' } }), 'event-store');
    refusal(() => cloudStatusFrom({ payload: {} }), 'session-cache');
  });

  it('groups acks in event_acks and reads the two lists, a missing one empty, leaving the items to be read one by one', () => {
    const group = { acks: [{ localEventId: 'e1', cloudEventId: 'c1', status: 'accepted' as const }], rejected: [] };
    assert.deepEqual(eventAcksMessage(group), { topic: 'event_acks', payload: group });
    assert.deepEqual(eventAcksFrom(eventAcksMessage(group)), group);
    assert.deepEqual(eventAcksFrom({ payload: { rejected: [{ bad: 1 }] } }), { acks: [], rejected: [{ bad: 1 }] });
    refusal(() => eventAcksFrom({ payload: { acks: 'e1' } }), 'event-store');
  });

  it('sends a copy of the tagged event on live_weight, which a watcher reads back', () => {
    const event = { ...taggedEvent(), nested: { a: 1 } };
    const msg = liveWeightMessage(event);
    assert.deepEqual(msg.payload, event);
    assert.notEqual(msg.payload, event, 'a copy');
    assert.notEqual(msg.payload.nested, event.nested, 'a deep copy');
    assert.equal(liveWeightFrom(msg).deviceId, event.deviceId);
    assert.throws(() => liveWeightFrom({ payload: {} }), /live_weight needs msg.payload.deviceId/);
  });

  it('hands protocol messages on whole, and lets cloud-link send only what goes to the Cloud, in its words', () => {
    assert.deepEqual(protocolMessage('offline_batch_start', { batchId: 'b1' }), { topic: 'offline_batch_start', payload: { batchId: 'b1' } });
    const r = toCloudFrom({ topic: 'device_connected', payload: { deviceId: 'SCALE-01' } });
    assert.equal(r.topic, 'device_connected');
    assert.equal(r.spec.deviceStatus, true);
    assert.deepEqual(toCloudFrom({ topic: 'event', payload: 'x' }).payload, {});
    for (const topic of ['session_started', 'no_such', 'constructor', undefined]) {
      const e = refusal(() => toCloudFrom({ topic, payload: {} }), 'cloud-link');
      assert.equal(e.values.topic, String(topic ?? ''));
    }
  });

  it("reads plu_deleted's code and plu_catalog's items, refusing them in plu-out's words", () => {
    assert.equal(pluCodeToDelete({ pluCode: '12' }), 12);
    assert.equal(pluCodeToDelete(7), 7);
    refusal(() => pluCodeToDelete({ pluCode: 'x' }), 'plu-out');
    assert.deepEqual(catalogItemsFrom({ items: [1] }), [1]);
    refusal(() => catalogItemsFrom({ items: {} }), 'plu-out');
  });
});
