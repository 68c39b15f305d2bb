import * as assert from 'node:assert/strict';
import { batchAnnouncementFrom, eventAckFrom, eventRejectedFrom, sessionMessageFrom } from '../../lib/protocol/flow-input';

describe('protocol payloads read from a flow (lib/protocol/flow-input)', () => {
  it('reads an ack: a missing status is "accepted", a bad one is refused by name', () => {
    assert.deepEqual(eventAckFrom({ localEventId: 'e1' }), { localEventId: 'e1', cloudEventId: null, status: 'accepted' });
    assert.deepEqual(eventAckFrom({ localEventId: 'e1', cloudEventId: 'c1', status: 'duplicate', extra: 1 }), {
      localEventId: 'e1',
      cloudEventId: 'c1',
      status: 'duplicate',
    });
    assert.throws(() => eventAckFrom('e1'), /event_ack: localEventId is missing/);
    assert.throws(() => eventAckFrom({ localEventId: 'e1', status: 'maybe' }), /status "maybe" is neither "accepted" nor "duplicate"/);
  });

  it('keeps a rejection without a reason as "no reason given"', () => {
    assert.deepEqual(eventRejectedFrom({ localEventId: 'e2', reason: '' }), { localEventId: 'e2', reason: 'no reason given' });
    assert.throws(() => eventRejectedFrom([]), /event_rejected: localEventId is missing/);
  });

  it('needs only the batch id of a batch announcement and passes the rest on', () => {
    assert.deepEqual(batchAnnouncementFrom('offline_batch_end', { batchId: 'b1', deviceId: 'SCALE-01' }), { batchId: 'b1', deviceId: 'SCALE-01' });
    assert.throws(() => batchAnnouncementFrom('offline_batch_start', { deviceId: 'SCALE-01' }), /offline_batch_start: batchId is missing/);
  });

  it('reads a session message, taking sessionId as the older name of cloudSessionId and empty text as absent', () => {
    const m = sessionMessageFrom({ sessionId: 's1', deviceId: 'SCALE-01', animalTag: '', operatorId: 7 });
    assert.equal(m.cloudSessionId, 's1');
    assert.equal(m.deviceId, 'SCALE-01');
    assert.equal(m.animalTag, null);
    assert.equal(m.operatorId, null, 'not text: not used');
    assert.deepEqual(m.raw, { sessionId: 's1', deviceId: 'SCALE-01', animalTag: '', operatorId: 7 });
    assert.equal(sessionMessageFrom({ cloudSessionId: 'new', sessionId: 'old' }).cloudSessionId, 'new');
  });
});
