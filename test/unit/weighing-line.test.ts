import * as assert from 'node:assert/strict';
import { parseWeighingLine, encodeText } from '../../lib/dp401/weighing-line';
import { weighingBytes } from '../helpers/lines';

describe('parseWeighingLine', () => {
  it('reads every field of the synthetic example from DP401.md', () => {
    const raw =
      '00007,10:30:00,30.01.2026,KUZU PIRZOLA    ,2000007015002,0000,AYSE                                            ,0000012500,0000002500,0000010000,0,0,0,1,N,ORNEK ET A.S.';
    const r = parseWeighingLine(Buffer.from(raw, 'latin1'), 'windows-1254');
    assert.ok(r.ok);
    assert.deepEqual(r.line, {
      pluCode: '00007',
      resent: false,
      time: '10:30:00',
      date: '30.01.2026',
      productName: 'KUZU PIRZOLA',
      barcode: '2000007015002',
      code: '0000',
      operator: 'AYSE',
      grossRaw: 12500,
      tareRaw: 2500,
      netRaw: 10000,
      flags: ['0', '0', '0', '1', 'N'],
      company: 'ORNEK ET A.S.',
      raw,
    });
  });

  it('decodes Turkish letters exactly from Windows-1254 bytes', () => {
    const bytes = weighingBytes({ name: 'İŞĞ ışğ üöç', operator: 'GÜLŞEN ÇİĞDEM', company: 'ÖZ ET A.Ş.' });
    // The encoding is single-byte: İ is 0xDD, Ş 0xDE, ğ 0xF0, ı 0xFD.
    for (const byte of [0xdd, 0xde, 0xf0, 0xfd]) assert.ok(bytes.includes(byte), `byte 0x${byte.toString(16)}`);
    const r = parseWeighingLine(bytes, 'windows-1254');
    assert.ok(r.ok);
    assert.equal(r.line.productName, 'İŞĞ ışğ üöç');
    assert.equal(r.line.operator, 'GÜLŞEN ÇİĞDEM');
    assert.equal(r.line.company, 'ÖZ ET A.Ş.');
    assert.equal(encodeText('BONFİLE', 'windows-1254')[4], 0xdd);
  });

  it('recognises the P and P" prefixes of a resent line', () => {
    for (const prefix of ['P', 'P"'] as const) {
      const r = parseWeighingLine(weighingBytes({ prefix }), 'windows-1254');
      assert.ok(r.ok);
      assert.equal(r.line.pluCode, '00007');
      assert.equal(r.line.resent, true);
    }
  });

  it('rejects malformed lines with a reason that names the field', () => {
    const good = weighingBytes().toString('latin1').split(',');
    const cases: Array<[number, string, RegExp]> = [
      [1, '10-30-00', /time/],
      [2, '2026-01-30', /date/],
      [7, '00000A2500', /gross/],
      [8, '-1', /tare/],
      [9, '', /net/],
    ];
    for (const [i, value, reason] of cases) {
      const f = [...good];
      f[i] = value;
      const r = parseWeighingLine(Buffer.from(f.join(','), 'latin1'), 'windows-1254');
      assert.equal(r.ok, false);
      assert.match((r as { error: string }).error, reason);
    }
    const short = parseWeighingLine(Buffer.from('00001,10:00:00', 'latin1'), 'windows-1254');
    assert.equal(short.ok, false);
    assert.match((short as { error: string }).error, /fields/);
  });
});
