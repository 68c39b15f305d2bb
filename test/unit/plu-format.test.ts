import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatPluFile, formatPluLine, parsePluFile, parseTemplate, type FormatOptions } from '../../lib/plu/plu-format';
import { toPluItem } from '../../lib/plu/plu-item';
import { GOLDEN_CATALOG } from '../helpers/plu';

const projectRoot = path.resolve(__dirname, '..', '..', '..');
const short: FormatOptions = { encoding: 'windows-1254', truncateNames: false, template: [] };

describe('plu.txt format', () => {
  it('writes the line seen in the field, byte for byte', () => {
    const r = formatPluLine({ pluCode: 1, name: 'KIYMA', price: 15, barcode: '1' }, short);
    assert.ok(r.ok);
    assert.equal(r.line.toString('latin1'), '00001~KIYMA           ~000~000000000001~          ~00015~00000000~00000000~01~01~0000~\r\n');
  });

  it('round-trips a catalogue with Turkish names, İ as byte 0xDD', () => {
    const { bytes, count, errors } = formatPluFile(GOLDEN_CATALOG, short);
    assert.deepEqual(errors, []);
    assert.equal(count, 5);
    const bonfile = bytes.indexOf(Buffer.from([0x42, 0x4f, 0x4e, 0x46, 0xdd, 0x4c, 0x45])); // B O N F İ L E
    assert.ok(bonfile > 0, 'BONFİLE is written with İ = 0xDD');
    const back = parsePluFile(bytes, short);
    const expected = [...GOLDEN_CATALOG].sort((a, b) => a.pluCode - b.pluCode).map((i) => ({ ...i, barcode: (i.barcode ?? '').padStart(12, '0') }));
    assert.deepEqual(back, expected);
    for (const line of bytes.toString('latin1').split('\r\n').filter(Boolean)) {
      assert.equal(line.length, 5 + 16 + 3 + 12 + 10 + 5 + 8 + 8 + 2 + 2 + 4 + 11, 'every line has the fixed width');
    }
  });

  it('matches the committed golden file', () => {
    const golden = fs.readFileSync(path.join(projectRoot, 'test', 'fixtures', 'plu-golden.txt'));
    const { bytes } = formatPluFile(GOLDEN_CATALOG, { ...short, template: parseTemplate('text1:20~flag:1').fields });
    assert.ok(bytes.equals(golden), `golden file differs:\n${bytes.toString('latin1')}`);
  });

  it('fills the trailing template from extra fields', () => {
    const t = parseTemplate('text1:6~flag:1');
    assert.deepEqual(t.fields, [
      { name: 'text1', width: 6 },
      { name: 'flag', width: 1 },
    ]);
    const r = formatPluLine({ pluCode: 9, name: 'SUCUK', price: 100, extra: { text1: 'DANA', flag: 'E' } }, { ...short, template: t.fields });
    assert.ok(r.ok);
    assert.ok(r.line.toString('latin1').endsWith('~0000~DANA  ~E~\r\n'));
    assert.match(parseTemplate('text1:6~bad').error!, /"bad" is not name:width/);
  });

  it('refuses items naming the PLU and the field', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ pluCode: 0, name: 'X', price: 1 }, /PLU 0: pluCode must be a whole number from 1 to 99999/],
      [{ pluCode: 100000, name: 'X', price: 1 }, /pluCode/],
      [{ pluCode: 5, name: 'KUZU PİRZOLA ÖZEL', price: 1 }, /PLU 5: name "KUZU PİRZOLA ÖZEL" is longer than 16 characters/],
      [{ pluCode: 5, name: 'Straße Żubr Ж', price: 1 }, /PLU 5: name has characters windows-1254 cannot hold: "Ż" \(U\+017B\), "Ж" \(U\+0416\)/],
      [{ pluCode: 5, name: 'X', price: 100000 }, /PLU 5: price 100000 must be a whole number of kuruş/],
      [{ pluCode: 5, name: 'X', price: 1, tareGrams: 10000 }, /PLU 5: tareGrams/],
      [{ pluCode: 5, name: 'X', price: 1, barcode: '12345678901234' }, /PLU 5: barcode .* at most 12 digits/],
      [{ pluCode: 5, name: 'X', price: 1, barcode: '12A4' }, /PLU 5: barcode/],
      [{ pluCode: 5, name: 'A~B', price: 1 }, /PLU 5: name must not contain "~"/],
      [{ pluCode: 5, name: 'X', price: 1, date1: '2026-02-30' }, /PLU 5: date1/],
    ];
    for (const [raw, reason] of cases) {
      const { item, error } = toPluItem(raw);
      const r = item ? formatPluLine(item, short) : { ok: false as const, error: error! };
      assert.equal(r.ok, false, JSON.stringify(raw));
      assert.match((r as { error: string }).error, reason);
    }
    // Windows-1254 does hold ß, ä and € (0xDF, 0xE4, 0x80): those are fine.
    assert.ok(formatPluLine({ pluCode: 6, name: 'Straße ä €', price: 1 }, short).ok);
  });

  it('truncates a long name when told to', () => {
    const r = formatPluLine({ pluCode: 5, name: 'KUZU PİRZOLA ÖZEL', price: 1 }, { ...short, truncateNames: true });
    assert.ok(r.ok);
    assert.equal(parsePluFile(r.line, short)[0].name, 'KUZU PİRZOLA ÖZE');
  });

  it('reads PLU items from Cloud messages, with string codes', () => {
    assert.deepEqual(toPluItem({ pluCode: '00012', name: 'SUCUK', price: '2500', barcode: 123, extra: { text1: 'a' } }).item, {
      pluCode: 12,
      name: 'SUCUK',
      price: 2500,
      barcode: '123',
      extra: { text1: 'a' },
    });
    assert.match(toPluItem({ pluCode: 1, name: 'X' }).error!, /price is missing/);
    assert.match(toPluItem({ pluCode: 1, name: 'X', price: 1, unitType: 'g' }).error!, /unitType/);
  });
});
