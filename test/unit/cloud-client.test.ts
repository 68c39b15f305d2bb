import * as assert from 'node:assert/strict';
import { CloudClient, type CloudStatus, type Timers } from '../../lib/cloud/cloud-client';
import { ReferenceCloud } from '../../sim/reference-cloud';
import { freePort, waitFor } from '../helpers/node-red';

/** Timers driven by hand: a test sees every delay the client asks for and fires them itself. */
class ManualTimers implements Timers {
  pending: Array<{ id: number; fn: () => void; ms: number; repeat: boolean }> = [];
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.push({ id, fn, ms, repeat: false });
    return id;
  }
  setInterval(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.push({ id, fn, ms, repeat: true });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending = this.pending.filter((t) => t.id !== h);
  }
  clearInterval(h: unknown): void {
    this.clearTimeout(h);
  }
  /** Fires the one pending timeout of `ms` (or the only timeout). */
  fire(predicate: (t: { ms: number; repeat: boolean }) => boolean): number {
    const t = this.pending.find((x) => !x.repeat && predicate(x));
    if (!t) throw new Error(`no pending timeout matches; pending: ${JSON.stringify(this.pending.map((p) => p.ms))}`);
    this.clearTimeout(t.id);
    t.fn();
    return t.ms;
  }
}

describe('CloudClient reconnect backoff (hand-driven timers)', function () {
  this.timeout(30_000);
  const clients: CloudClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.stop();
  });

  it('waits 1 s, then up to 2, 4, 8 ... 60 s between failed attempts, never two sockets, and resets after a stable minute', async () => {
    const port = await freePort(); // nothing listens here yet
    const timers = new ManualTimers();
    const statuses: CloudStatus[] = [];
    const client = new CloudClient({
      url: `ws://127.0.0.1:${port}/edge`,
      apiKey: 'k',
      siteId: 'SITE01',
      siteName: 'Test',
      edgeId: null,
      version: 'test',
      capabilities: [],
      timers,
      random: () => 0.999999,
    });
    clients.push(client);
    client.on('status', (s) => statuses.push(s));
    client.start();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      await waitFor(() => statuses.some((s) => s.state === 'waiting' && s.attempt === i + 1), `attempt ${i + 1} to fail`);
      const waiting = statuses.filter((s) => s.state === 'waiting').pop()!;
      assert.match(waiting.reason ?? '', /ECONNREFUSED/);
      delays.push(timers.fire((t) => t.ms === waiting.nextRetryMs));
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    assert.equal(client.openedSockets, 9, 'one socket per attempt, one at a time');

    // The Cloud comes up: the next attempt connects, and a stable minute resets the backoff.
    const cloud = new ReferenceCloud({ port });
    await cloud.start();
    try {
      await waitFor(() => statuses.some((s) => s.state === 'waiting' && s.attempt === 9), 'attempt 9 to fail');
      timers.fire((t) => t.ms === 60000);
      await waitFor(() => client.isConnected, 'the link to come up');
      assert.equal(cloud.connections, 1);
      assert.equal(client.currentStatus.attempt, 9);
      timers.fire((t) => t.ms === 60_000); // the stable-connection timer
      assert.equal(client.currentStatus.attempt, 0);
      cloud.dropConnections();
      await waitFor(() => statuses[statuses.length - 1].state === 'waiting', 'the drop to be noticed');
      assert.equal(statuses[statuses.length - 1].nextRetryMs, 1000, 'back to 1 s after a stable link');
    } finally {
      await client.stop();
      await cloud.stop();
    }
  });
});

describe('CloudClient: back promptly once the Cloud is (real sockets)', function () {
  this.timeout(30_000);
  const base = { apiKey: 'k', siteId: 'SITE01', siteName: 'Test', edgeId: null, version: 'test', capabilities: [] };

  it('probes the address during a long backoff and reconnects within a probe interval of the Cloud coming back', async () => {
    const port = await freePort();
    const statuses: CloudStatus[] = [];
    const client = new CloudClient({
      ...base,
      url: `ws://127.0.0.1:${port}/edge`,
      minBackoffMs: 10_000,
      maxBackoffMs: 60_000,
      probeIntervalMs: 100,
      random: () => 0.5,
    });
    client.on('status', (s) => statuses.push(s));
    client.start();
    const cloud = new ReferenceCloud({ port });
    try {
      await waitFor(() => statuses.some((s) => s.state === 'waiting' && (s.nextRetryMs ?? 0) >= 10_000), 'a 10 s wait');
      await cloud.start();
      // The scheduled retry is 10 s away; the probe finds the Cloud within 100 ms and the
      // reconnect comes after at most the minimum backoff's jitter (here 5 s).
      await waitFor(() => client.isConnected, 'the link, long before the scheduled retry', 8000);
      assert.equal(client.openedSockets, 2, 'the failed attempt and the one after the probe');
      assert.ok(
        statuses.some((s) => s.state === 'waiting' && s.attempt === 0),
        'the probe reset the backoff',
      );
    } finally {
      await client.stop();
      await cloud.stop();
    }
  });

  it('does not probe after the Cloud refused the key: a refusal is not an outage', async () => {
    const port = await freePort();
    const cloud = new ReferenceCloud({ port, apiKeys: ['right'] });
    await cloud.start();
    const client = new CloudClient({
      ...base,
      url: `ws://127.0.0.1:${port}/edge`,
      apiKey: 'wrong',
      minBackoffMs: 10_000,
      maxBackoffMs: 60_000,
      probeIntervalMs: 50,
    });
    const statuses: CloudStatus[] = [];
    client.on('status', (s) => statuses.push(s));
    client.start();
    try {
      await waitFor(() => statuses.some((s) => s.state === 'waiting'), 'the refusal');
      assert.match(client.currentStatus.reason ?? '', /401/);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(client.openedSockets, 1, 'no early retries');
    } finally {
      await client.stop();
      await cloud.stop();
    }
  });
});
