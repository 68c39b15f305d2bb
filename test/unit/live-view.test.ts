import * as assert from 'node:assert/strict';
import { LiveView, type LiveViewTimers } from '../../lib/util/live-view';

/** Hand-driven timers: `run(ms)` moves time forward and fires what falls due, in order. */
class ManualTimers implements LiveViewTimers {
  t = 0;
  private due: Array<{ at: number; fn: () => void; id: number }> = [];
  private ids = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.ids;
    this.due.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.due = this.due.filter((d) => d.id !== h);
  }
  /** Advances to `until`, firing every timer due on the way. */
  runTo(until: number): void {
    for (let guard = 0; guard < 100_000; guard++) {
      this.due.sort((a, b) => a.at - b.at);
      const d = this.due[0];
      if (!d || d.at > until) break;
      this.due.shift();
      this.t = d.at;
      d.fn();
    }
    this.t = until;
  }
  get pending(): number {
    return this.due.length;
  }
}

describe('LiveView (the bounded live view that shows every scale)', () => {
  it('shows every scale when three weigh in the same millisecond, at most the rate in all, each its latest weight', () => {
    const timers = new ManualTimers();
    const shown: Array<[string, number, number]> = [];
    const view = new LiveView<number>(20, (k, v) => shown.push([k, v, timers.t]), { timers });
    // Three scales each weighing every 10 ms, all in the same millisecond, for one second.
    for (let ms = 0; ms < 1000; ms += 10) {
      timers.runTo(ms);
      for (const scale of ['SCALE-01', 'SCALE-02', 'SCALE-03']) view.offer(scale, ms);
    }
    timers.runTo(999);
    assert.ok(shown.length <= 20, `${shown.length} shown in one second`);
    assert.ok(shown.length >= 19, `${shown.length} shown in one second`);
    assert.deepEqual([...new Set(shown.map(([k]) => k))].sort(), ['SCALE-01', 'SCALE-02', 'SCALE-03']);
    // Evenly spaced, in turn, and each the latest value its scale offered by then.
    for (let i = 1; i < shown.length; i++) assert.ok(shown[i][2] - shown[i - 1][2] >= 50, `spaced: ${JSON.stringify(shown.slice(i - 1, i + 1))}`);
    assert.deepEqual(
      shown.slice(0, 4).map(([k]) => k),
      ['SCALE-01', 'SCALE-02', 'SCALE-03', 'SCALE-01'],
    );
    for (const [, v, at] of shown) assert.ok(v <= at && at - v <= 10, `the latest weighing of that scale: ${v} shown at ${at}`);
  });

  it('lets a quiet scale through a busy one and shows the first weighing at once', () => {
    const timers = new ManualTimers();
    const shown: string[] = [];
    const view = new LiveView<number>(20, (k) => shown.push(`${k}@${timers.t}`), { timers });
    view.offer('SCALE-01', 1);
    assert.deepEqual(shown, ['SCALE-01@0'], 'no wait when the view has room');
    for (let ms = 1; ms < 200; ms++) {
      timers.runTo(ms);
      view.offer('SCALE-01', ms);
      if (ms === 20) view.offer('SCALE-09', ms); // once, in the busy scale's stream
    }
    timers.runTo(200);
    // SCALE-01 was waiting before it (from 1 ms on): one turn each.
    assert.deepEqual(shown.slice(0, 3), ['SCALE-01@0', 'SCALE-01@50', 'SCALE-09@100']);
  });

  it('holds one value per scale and a bounded number of scales; nothing at 0; close drops the timer', () => {
    const timers = new ManualTimers();
    const shown: string[] = [];
    const view = new LiveView<number>(1, (k) => shown.push(k), { timers, maxKeys: 5 });
    for (let i = 0; i < 10_000; i++) view.offer(`DEV-${i}`, i);
    assert.equal(view.size, 5, 'the first was shown, five wait, the rest were turned away');
    view.close();
    assert.equal(timers.pending, 0);
    timers.runTo(10_000);
    assert.deepEqual(shown, ['DEV-0']);
    const off = new LiveView<number>(0, () => assert.fail('nothing at 0'), { timers });
    off.offer('SCALE-01', 1);
    assert.equal(off.size, 0);
  });
});
