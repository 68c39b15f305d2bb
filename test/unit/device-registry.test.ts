import * as assert from 'node:assert/strict';
import { DeviceRegistry } from '../../lib/dp401/device-registry';

const thresholds = { staleAfterMs: 45_000, timeoutAfterMs: 90_000, idleAfterMs: 300_000 };

describe('DeviceRegistry health', () => {
  it('goes online -> stale -> disconnected without heartbeats, on a hand-driven clock', () => {
    const r = new DeviceRegistry(thresholds);
    r.connect('c1', '10.0.0.1', 0);
    r.register('c1', 'SCALE-01', 0);
    assert.deepEqual(r.evaluate(44_999), []);
    assert.deepEqual(r.evaluate(45_000), [{ connectionId: 'c1', deviceId: 'SCALE-01', from: 'online', to: 'stale' }]);
    assert.deepEqual(r.evaluate(89_999), []);
    assert.deepEqual(r.evaluate(90_000), [{ connectionId: 'c1', deviceId: 'SCALE-01', from: 'stale', to: 'disconnected' }]);
  });

  it('comes back online on a heartbeat, and heartbeats alone keep it online', () => {
    const r = new DeviceRegistry(thresholds);
    r.connect('c1', '10.0.0.1', 0);
    r.register('c1', 'SCALE-01', 0);
    r.evaluate(50_000);
    r.heartbeat('c1', 60_000);
    assert.deepEqual(
      r.evaluate(60_000).map((c) => c.to),
      ['online'],
    );
    for (let t = 90_000; t < 290_000; t += 30_000) {
      r.heartbeat('c1', t);
      assert.deepEqual(r.evaluate(t), []);
    }
    assert.equal(r.get('c1')!.heartbeatCount, 8);
  });

  it('is idle after five minutes without a weighing and online again after one', () => {
    const r = new DeviceRegistry(thresholds);
    r.connect('c1', '10.0.0.1', 0);
    r.register('c1', 'SCALE-01', 0);
    r.weighing('c1', 1200, 10_000);
    for (let t = 30_000; t < 310_000; t += 30_000) r.heartbeat('c1', t);
    assert.deepEqual(r.evaluate(309_999), []);
    assert.deepEqual(
      r.evaluate(310_000).map((c) => c.to),
      ['idle'],
    );
    r.weighing('c1', 800, 320_000);
    assert.deepEqual(
      r.evaluate(320_000).map((c) => c.to),
      ['online'],
    );
    assert.equal(r.get('c1')!.lastWeightGrams, 800);
  });

  it('hands an id to a new socket and reports a live one at another address as a conflict', () => {
    const r = new DeviceRegistry(thresholds);
    r.connect('c1', '10.0.0.1', 0);
    r.register('c1', 'SCALE-01', 0);
    r.heartbeat('c1', 30_000);
    r.connect('c2', '10.0.0.2', 31_000);
    const res = r.register('c2', 'SCALE-01', 31_000);
    assert.equal(res.replaced?.connectionId, 'c1');
    assert.equal(res.conflict, true);
    assert.equal(r.connectionOf('SCALE-01')?.connectionId, 'c2');
    r.disconnect('c1');
    assert.equal(r.connectionOf('SCALE-01')?.connectionId, 'c2');
  });

  it('a reconnect from the same address after silence is no conflict', () => {
    const r = new DeviceRegistry(thresholds);
    r.connect('c1', '10.0.0.1', 0);
    r.register('c1', 'SCALE-01', 0);
    r.heartbeat('c1', 1_000);
    r.connect('c2', '10.0.0.1', 2_000);
    const res = r.register('c2', 'SCALE-01', 2_000);
    assert.equal(res.replaced?.connectionId, 'c1');
    assert.equal(res.conflict, false);
  });
});
