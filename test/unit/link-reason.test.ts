import * as assert from 'node:assert/strict';
import { classifyLinkReason } from '../../lib/cloud/link-reason';

describe('why the Cloud link is down, in words', () => {
  it('tells a refused key, a refused connection, a wrong address, a timeout and a certificate apart', () => {
    const cases: Array<[string | null, string]> = [
      ['Unexpected server response: 401', 'key-refused'],
      ['Unexpected server response: 403', 'key-refused'],
      ['connect ECONNREFUSED 127.0.0.1:9', 'refused'],
      ['getaddrinfo ENOTFOUND cloud.example', 'not-found'],
      ['Unexpected server response: 404', 'not-found'],
      ['Opening handshake has timed out', 'timeout'],
      ['self-signed certificate', 'certificate'],
      ['no pong within 10 s: link is half-open', 'half-open'],
      ['closed by the Cloud (1001 going away)', 'closed'],
      ['Unexpected server response: 503', 'server-error'],
      ['something else entirely', 'other'],
      [null, 'other'],
    ];
    assert.deepEqual(
      cases.map(([r]) => [r, classifyLinkReason(r)]),
      cases,
    );
  });
});
