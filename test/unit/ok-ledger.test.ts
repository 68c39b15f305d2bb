import * as assert from 'node:assert/strict';
import { OkLedger, type WeighingKey } from '../../lib/dp401/ok-ledger';

/**
 * The pending-OK ledger on its own: no sockets, times given by hand. Each test that ends a
 * weighing's wait unanswered (refused, socket closed, ledger full) also proves that the scale's
 * resend is then taken as new, not as a repeat of a weighing that was never stored.
 */
describe('OkLedger', () => {
  const w = (weightGrams: number, deviceId = 'SCALE-01'): WeighingKey => ({ deviceId, pluCode: '00001', weightGrams, tareGrams: 0 });
  const store = (maxWaiting?: number): OkLedger => new OkLedger({ duplicateWindowMs: 5000, holdOks: true, maxWaiting });

  it('in ack mode "store" holds a new weighing until the store answers, and counts it for its connection', () => {
    const l = store();
    assert.deepEqual(l.take('c1', w(100), 'e1', 1000), { duplicate: null, okNow: false, dropped: null });
    assert.equal(l.size, 1);
    assert.equal(l.waitingOf('c1'), 1);
    assert.equal(l.waitingOf('c2'), 0);
    assert.equal(l.oldestSince(), 1000);
    assert.deepEqual(l.answer('c1', 'e1'), { connectionId: 'c1', repeats: [], release: ['c1'] });
    assert.equal(l.size, 0);
    assert.equal(l.waitingOf('c1'), 0);
    assert.equal(l.oldestSince(), null);
  });

  it('in ack mode "receipt" answers every weighing at once and holds none, but still knows a repeat', () => {
    const l = new OkLedger({ duplicateWindowMs: 5000, holdOks: false });
    assert.deepEqual(l.take('c1', w(100), 'e1', 1000), { duplicate: null, okNow: true, dropped: null });
    const again = l.take('c1', w(100), 'e2', 1500);
    assert.equal(again.duplicate?.originalEventId, 'e1');
    assert.equal(again.okNow, true);
    assert.equal(l.size, 0);
    assert.equal(l.waitingOf('c1'), 0);
  });

  it("gives a repeat of a waiting weighing its OK with the original's, on whichever connection it came", () => {
    const l = store();
    l.take('c1', w(100), 'e1', 1000);
    const repeat = l.take('c2', w(100), 'e2', 1800);
    assert.deepEqual(repeat, { duplicate: { originalEventId: 'e1', firstSeenAt: 1000 }, okNow: false });
    assert.equal(l.size, 1, 'a repeat is not stored, so the store never answers it on its own');
    assert.equal(l.waitingOf('c2'), 1, 'but its connection counts it as waiting');
    assert.deepEqual(l.answer('c1', 'e1'), { connectionId: 'c1', repeats: ['c2'], release: ['c1', 'c2'] });
    assert.equal(l.waitingOf('c2'), 0);
  });

  it('answers a repeat of a weighing already stored at once', () => {
    const l = store();
    l.take('c1', w(100), 'e1', 1000);
    l.answer('c1', 'e1');
    const repeat = l.take('c1', w(100), 'e2', 2000);
    assert.equal(repeat.duplicate?.originalEventId, 'e1');
    assert.equal(repeat.okNow, true);
    assert.equal(l.waitingOf('c1'), 0);
  });

  it("without an event id answers the connection's oldest waiting weighing", () => {
    const l = store();
    l.take('c1', w(100), 'e1', 1000);
    l.take('c2', w(200), 'e2', 1001);
    l.take('c2', w(300), 'e3', 1002);
    assert.equal(l.answer('c2').release?.[0], 'c2');
    assert.deepEqual(
      [...l.waitingSince()],
      [
        ['c1', 1000],
        ['c2', 1002],
      ],
    );
  });

  it('answers a weighing it does not know on the connection asked for, releasing nothing', () => {
    const l = store();
    assert.deepEqual(l.answer('c9', 'nope'), { connectionId: 'c9', repeats: [], release: null });
    assert.deepEqual(l.answer('c9'), { connectionId: 'c9', repeats: [], release: null });
  });

  it('a weighing the store refused gets no OK, and its resend is stored as new', () => {
    const l = store();
    l.take('c1', w(100), 'e1', 1000);
    assert.deepEqual(l.refuse('e1'), ['c1']);
    assert.equal(l.size, 0);
    assert.equal(l.waitingOf('c1'), 0);
    assert.deepEqual(l.take('c1', w(100), 'e2', 1500), { duplicate: null, okNow: false, dropped: null }, 'the resend is no repeat');
    assert.equal(l.refuse('unknown'), null);
  });

  it('a refused weighing is no original in ack mode "receipt" either', () => {
    const l = new OkLedger({ duplicateWindowMs: 5000, holdOks: false });
    l.take('c1', w(100), 'e1', 1000);
    assert.equal(l.refuse('e1'), null, 'nothing waited');
    assert.equal(l.take('c1', w(100), 'e2', 1500).duplicate, null);
  });

  it('a closed connection: its weighings stop waiting and stop being originals; its repeats stop waiting', () => {
    const l = store();
    l.take('c1', w(100), 'e1', 1000);
    l.take('c1', w(200), 'e2', 1001);
    l.take('c2', w(300), 'e3', 1002);
    l.take('c1', w(300), 'e4', 1003); // a repeat of c2's weighing, waiting on c1
    assert.equal(l.waitingOf('c1'), 3);
    assert.deepEqual(l.closed('c1'), [['c1'], ['c1']], 'one release per weighing of its own');
    assert.equal(l.size, 1);
    assert.equal(l.waitingOf('c1'), 0);
    assert.deepEqual(l.answer('c2', 'e3'), { connectionId: 'c2', repeats: [], release: ['c2'] }, 'no OK owed to the closed connection');
    // The scale resends on a new connection: stored as new, not answered as a repeat.
    assert.equal(l.take('c3', w(100), 'e5', 1500).duplicate, null);
    assert.equal(l.take('c3', w(200), 'e6', 1501).duplicate, null);
  });

  it("a closed connection's repeats release the connection of the original when it is answered", () => {
    const l = store();
    l.take('c1', w(100), 'e1', 1000);
    l.take('c2', w(100), 'e2', 1001);
    l.closed('c2');
    // The original's own connection is counted down; the closed one is not owed anything.
    assert.deepEqual(l.answer('c1', 'e1'), { connectionId: 'c1', repeats: [], release: ['c1'] });
  });

  it('when full, forgets the oldest waiting weighing as an original too', () => {
    const l = store(2);
    l.take('c1', w(100), 'e1', 1000);
    l.take('c2', w(100), 'e2', 1001); // a repeat: waits with e1, takes no place
    l.take('c1', w(200), 'e3', 1002);
    const third = l.take('c1', w(300), 'e4', 1003);
    assert.deepEqual(third, { duplicate: null, okNow: false, dropped: ['c1', 'c2'] });
    assert.equal(l.size, 2);
    assert.equal(l.waitingOf('c1'), 2);
    assert.equal(l.waitingOf('c2'), 0);
    assert.deepEqual(l.answer('c1', 'e1').release, null, 'forgotten: its late ack releases nothing');
    assert.equal(l.take('c1', w(100), 'e5', 1500).duplicate, null, 'the resend of the forgotten weighing is stored');
  });

  it('clear() drops every wait', () => {
    const l = store();
    l.take('c1', w(100), 'e1', 1000);
    l.clear();
    assert.equal(l.size, 0);
    assert.equal(l.waitingOf('c1'), 0);
    assert.equal(l.oldestSince(), null);
  });
});
