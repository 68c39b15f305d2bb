import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { openDatabase, type SqliteDatabase } from '../../lib/db/database';
import type { CloudMessage, StoreFigures, StoreService } from '../../lib/store/store-service';
import { EVENT_STORE_DEFAULTS } from '../../lib/store/settings';
import { StoreRunner, ackCheckEveryMs, backupTarget, SERVICE_TOPICS, TAKEN_WHILE_DOWN } from '../../lib/store/store-runner';
import { isOneOf } from '../../lib/util/one-of';
import { tempDirs, taggedEvent } from '../helpers/temp';
import { waitFor } from '../helpers/node-red';

describe('StoreRunner: a store service as event-store runs it across reopens', () => {
  const dirs = tempDirs();
  let db: SqliteDatabase;
  const open: StoreService[] = [];
  const unbinds: Array<() => void> = [];

  beforeEach(() => {
    db = openDatabase(path.join(dirs.make(), 'site.db'));
  });
  afterEach(() => {
    for (const u of unbinds.splice(0)) u();
    for (const s of open.splice(0)) s.close();
    db.close();
    dirs.cleanup();
  });

  const runnerWith = (over: Partial<typeof EVENT_STORE_DEFAULTS> = {}): StoreRunner => new StoreRunner({ ...EVENT_STORE_DEFAULTS, ...over }, 'store one');
  const opened = (runner: StoreRunner): StoreService => {
    const svc = runner.open(db, 'SITE01');
    open.push(svc);
    return svc;
  };
  const quiet = { report: () => undefined, onError: (err: Error) => assert.fail(err) };

  it("opens the service with the node's settings in the service's units", () => {
    const svc = opened(runnerWith({ ackTimeoutS: 2, window: 7 }));
    assert.equal(svc.isSender, true);
    assert.equal(svc.figures().alarms.length, 0);
    assert.equal(ackCheckEveryMs(2000), 500, 'a quarter of the timeout');
    assert.equal(ackCheckEveryMs(60_000), 5000, 'at most every 5 s');
    assert.equal(ackCheckEveryMs(100), 100, 'at least 100 ms apart');
  });

  it('gives a reopened service the link state and the /metrics totals of the one before', async () => {
    const runner = runnerWith();
    const first = opened(runner);
    unbinds.push(runner.bind(first, quiet));
    runner.setConnected(true, first);
    assert.equal(first.connected, true);
    await first.submit(taggedEvent());
    first.totals.delivered = 4;
    first.ackLatency.count = 4;
    first.ackLatency.sumMs = 40;
    unbinds.pop()!();
    first.close();
    open.splice(open.indexOf(first), 1);

    const second = opened(runner);
    const sent: CloudMessage[] = [];
    second.on('cloud', (m) => sent.push(m));
    unbinds.push(runner.bind(second, quiet));
    assert.equal(second.connected, true, 'told at bind: it does not start offline');
    assert.deepEqual(second.totals, { stored: 1, delivered: 4, failed: 0 });
    assert.deepEqual(second.ackLatency, { count: 4, sumMs: 40 });
    assert.deepEqual(
      sent.map((m) => m.topic),
      ['event'],
      'the backlog went out on connect',
    );
    // Told while down (no service): kept for the next one.
    runner.setConnected(false, null);
    const third = opened(runner);
    unbinds.push(runner.bind(third, quiet));
    assert.equal(third.connected, false);
  });

  it('reports on its interval, and an error on a timer goes to onError with what was running, never out of the timer', async () => {
    const runner = runnerWith({ statusIntervalS: 1 });
    const svc = opened(runner);
    const errors: string[] = [];
    let reports = 0;
    unbinds.push(
      runner.bind(svc, {
        report: () => {
          reports++;
          throw new Error('the status failed');
        },
        onError: (err, during) => errors.push(`${during}: ${err.message}`),
      }),
    );
    await waitFor(() => reports >= 1, 'a report');
    assert.deepEqual(errors[0], 'report: the status failed');
    unbinds.pop()!();
    const after = reports;
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(reports, after, 'unbinding stops the timers');
  });

  it('says an alarm once, again only when it changes, and again after it cleared', () => {
    const runner = runnerWith();
    const fig = (...alarms: string[]): StoreFigures => ({ alarms }) as unknown as StoreFigures;
    assert.equal(runner.newAlarm(fig()), null);
    assert.equal(runner.newAlarm(fig('disk low')), 'disk low');
    assert.equal(runner.newAlarm(fig('disk low')), null);
    assert.equal(runner.newAlarm(fig('disk low', 'backlog old')), 'disk low; backlog old');
    assert.equal(runner.newAlarm(fig()), null);
    assert.equal(runner.newAlarm(fig('disk low')), 'disk low');
  });

  it('applies event_acks item by item: a bad one is named in one error, the others are applied, unknown rejections listed', async () => {
    const runner = runnerWith();
    const svc = opened(runner);
    unbinds.push(runner.bind(svc, quiet));
    const events = [taggedEvent(), taggedEvent(), taggedEvent()];
    await Promise.all(events.map((e) => svc.submit(e)));
    runner.setConnected(true, svc);
    const r = runner.apply(svc, 'event_acks', {
      payload: {
        acks: [{ localEventId: events[0].localEventId }, { localEventId: 5 }, { localEventId: events[1].localEventId, status: 'maybe' }],
        rejected: [
          { localEventId: events[2].localEventId, reason: 'Invalid PLU code' },
          { localEventId: 'not-here', reason: 'x' },
        ],
      },
    });
    assert.deepEqual(r.unknownRejections, ['not-here']);
    assert.match(String(r.error), /^event_acks: 2 item\(s\) refused: event_ack: localEventId is missing; event_ack: status "maybe"/);
    const c = svc.figures();
    assert.equal(c.synced, 1);
    assert.equal(c.failed, 1);
    assert.equal(c.pending, 1);
    assert.throws(() => runner.apply(svc, 'event_acks', { payload: {} }), /event_acks needs msg.payload.acks/);
  });

  it('hands a single ack, rejection or batch announcement to the service, listing an unknown rejection', async () => {
    const runner = runnerWith();
    const svc = opened(runner);
    const e = taggedEvent();
    await svc.submit(e);
    assert.deepEqual(runner.apply(svc, 'event_ack', { payload: { localEventId: e.localEventId } }), { unknownRejections: [], error: null });
    assert.equal(svc.figures().synced, 1);
    assert.deepEqual(runner.apply(svc, 'event_rejected', { payload: { localEventId: 'gone', reason: 'x' } }).unknownRejections, ['gone']);
    assert.throws(() => runner.apply(svc, 'offline_batch_start', { payload: {} }), /offline_batch_start: batchId is missing/);
    assert.ok(isOneOf(SERVICE_TOPICS, 'event_acks') && !isOneOf(SERVICE_TOPICS, 'event') && !isOneOf(SERVICE_TOPICS, 'backup'));
    assert.ok(TAKEN_WHILE_DOWN.includes('event_acks') && !TAKEN_WHILE_DOWN.includes('event'));
  });

  it('takes a backup target from the payload or its path, relative to the user directory', () => {
    assert.equal(backupTarget('b/x.db', '/home/nr'), path.resolve('/home/nr/b/x.db'));
    assert.equal(backupTarget({ path: '/abs/x.db' }, '/home/nr'), path.resolve('/abs/x.db'));
    assert.equal(backupTarget({ path: '' }, '/home/nr'), null);
    assert.equal(backupTarget(42, '/home/nr'), null);
  });
});
