import * as assert from 'node:assert/strict';
import { OutageLog } from '../../lib/cloud/outage-log';
import type { CloudStatus } from '../../lib/cloud/cloud-client';

const waiting = (reason: string, attempt: number): CloudStatus => ({ connected: false, state: 'waiting', edgeId: null, reason, attempt, nextRetryMs: 5000 });
const up: CloudStatus = { connected: true, state: 'connected', edgeId: 'e-1', reason: null, attempt: 0, nextRetryMs: null };

describe('the Cloud outage log', () => {
  it('says an outage once, with its reason, and once more when the link is back with the count', () => {
    const log = new OutageLog();
    const lines = [
      log.onStatus(up, 0),
      log.onStatus(waiting('connect ECONNREFUSED 127.0.0.1:1', 1), 1000),
      ...Array.from({ length: 50 }, (_, i) => log.onStatus(waiting('connect ECONNREFUSED 127.0.0.1:1', i + 2), 2000 + i * 1000)),
      log.onStatus(up, 91_000),
    ].filter(Boolean);
    assert.deepEqual(lines, [
      { level: 'info', key: 'connected', params: {} },
      { level: 'info', key: 'waiting', params: { reason: 'connect ECONNREFUSED 127.0.0.1:1', seconds: 5 } },
      { level: 'info', key: 'reconnected', params: { attempts: 51, downS: 90 } },
    ]);
  });

  it('warns about a refused key, and speaks again only when the reason changes', () => {
    const log = new OutageLog();
    const a = log.onStatus(waiting('Unexpected server response: 401', 1), 0);
    const b = log.onStatus(waiting('Unexpected server response: 401', 2), 1);
    const c = log.onStatus(waiting('getaddrinfo ENOTFOUND cloud', 3), 2);
    assert.equal(a?.level, 'warn');
    assert.equal(b, null);
    assert.deepEqual(c, { level: 'info', key: 'waiting', params: { reason: 'getaddrinfo ENOTFOUND cloud', seconds: 5 } });
  });
});
