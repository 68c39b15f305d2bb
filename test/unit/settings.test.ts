import * as assert from 'node:assert/strict';
import { parseDp401Settings, allowListMatcher, parseAllowList, DP401_DEFAULTS } from '../../lib/dp401/settings';

describe('dp401-in settings', () => {
  it('has the defaults of DP401.md when every field is empty', () => {
    const { settings, errors } = parseDp401Settings({ port: '', timeZone: '' });
    assert.deepEqual(errors, []);
    assert.equal(settings!.port, 3001);
    assert.equal(settings!.encoding, 'windows-1254');
    assert.equal(settings!.weightUnit, '1');
    assert.equal(settings!.duplicateWindowMs, 5000);
    assert.equal(settings!.staleAfterMs, 45_000);
    assert.equal(settings!.timeoutAfterMs, 90_000);
    assert.equal(settings!.idleAfterMs, 300_000);
    assert.equal(settings!.ackMode, DP401_DEFAULTS.ackMode);
    assert.ok(settings!.timeZone.length > 0);
  });

  it('takes the default for a ${VAR} reference Node-RED left unreplaced (variable unset)', () => {
    const { settings, errors } = parseDp401Settings({ port: '${TCP_PORT}' });
    assert.deepEqual(errors, []);
    assert.equal(settings!.port, 3001);
  });

  it('names the field in every error', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ port: '70000' }, 'port'],
      [{ port: 'abc' }, 'port'],
      [{ bindAddress: 'gateway.local' }, 'bindAddress'],
      [{ allowedSources: '10.0.0.0/33' }, 'allowedSources'],
      [{ allowedSources: 'example.com' }, 'allowedSources'],
      [{ maxConnections: '0' }, 'maxConnections'],
      [{ maxLineBytes: '10' }, 'maxLineBytes'],
      [{ encoding: 'klingon' }, 'encoding'],
      [{ weightUnit: '5' }, 'weightUnit'],
      [{ timeZone: 'Mars/Olympus' }, 'timeZone'],
      [{ duplicateWindowS: '-1' }, 'duplicateWindowS'],
      [{ staleAfterS: '60', timeoutAfterS: '50' }, 'timeoutAfterS'],
      [{ addressMap: '10.0.0.1 SCALE-01' }, 'addressMap'],
      [{ addressMap: 'not-an-ip=SCALE-01' }, 'addressMap'],
      [{ ackMode: 'never' }, 'ackMode'],
    ];
    for (const [raw, field] of cases) {
      const { settings, errors } = parseDp401Settings(raw);
      assert.equal(settings, undefined, JSON.stringify(raw));
      assert.deepEqual(
        errors.map((e) => e.field),
        [field],
        JSON.stringify(raw),
      );
      assert.match(errors[0].message, new RegExp(field));
    }
  });

  it('parses the address map', () => {
    const { settings } = parseDp401Settings({ addressMap: '192.168.1.21=SCALE-01\n192.168.1.22 = SCALE-02' });
    assert.deepEqual(
      [...settings!.addressMap],
      [
        ['192.168.1.21', 'SCALE-01'],
        ['192.168.1.22', 'SCALE-02'],
      ],
    );
  });

  it('matches addresses and CIDRs, including IPv4 seen through a dual-stack socket', () => {
    const allow = allowListMatcher(parseAllowList('192.168.1.0/24, 10.0.0.5, ::1').entries);
    assert.ok(allow('192.168.1.77'));
    assert.ok(allow('::ffff:192.168.1.77'));
    assert.ok(allow('10.0.0.5'));
    assert.ok(allow('::1'));
    assert.ok(!allow('10.0.0.6'));
    assert.ok(!allow('192.168.2.1'));
    assert.ok(allowListMatcher([])('203.0.113.9'));
  });
});
