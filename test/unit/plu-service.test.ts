import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDatabase, type SqliteDatabase } from '../../lib/db/database';
import { PluService, PLU_TOPICS } from '../../lib/plu/plu-service';
import { isOneOf } from '../../lib/util/one-of';
import { parsePluFile, type FormatOptions } from '../../lib/plu/plu-format';
import { GOLDEN_CATALOG } from '../helpers/plu';
import { tempDirs } from '../helpers/temp';

const format: FormatOptions = { encoding: 'windows-1254', truncateNames: false, template: [] };

describe('PluService: the catalogue and the scale file, without Node-RED', () => {
  const dirs = tempDirs();
  let dir: string;
  let db: SqliteDatabase;
  let plu: PluService;
  let file: string;

  beforeEach(() => {
    dir = dirs.make('carnitrack-plu-');
    file = path.join(dir, 'out', 'plu.txt');
    db = openDatabase(path.join(dir, 'site.db'));
    plu = new PluService(db, { file, format });
  });
  afterEach(() => {
    db.close();
    dirs.cleanup();
  });

  const written = (): number[] => parsePluFile(fs.readFileSync(file), format).map((i) => i.pluCode);

  it('applies updates, deletes and a whole catalogue, and writes the file sorted', () => {
    for (const item of GOLDEN_CATALOG) assert.deepEqual(plu.apply('plu_updated', item, 1), { refused: [] });
    assert.deepEqual(plu.apply('plu_deleted', { pluCode: 2 }, 2), { refused: [] });
    assert.deepEqual(plu.apply('plu_deleted', 99, 2), { refused: [], unknownCode: 99 }, 'a code it does not hold is named');
    const w = plu.writeFile();
    if (w.error !== undefined) assert.fail(w.error);
    assert.deepEqual(
      written(),
      GOLDEN_CATALOG.map((i) => i.pluCode)
        .filter((c) => c !== 2)
        .sort((a, b) => a - b),
    );
    assert.equal(w.count, plu.count());
    plu.apply('plu_catalog', { items: [GOLDEN_CATALOG[0]] }, 3);
    plu.writeFile();
    assert.deepEqual(written(), [7]);
  });

  it('refuses an item it cannot write, naming PLU and field; in a catalogue only that item', () => {
    assert.throws(() => plu.apply('plu_updated', { pluCode: 5, name: 'X' }, 1), /PLU 5: price is missing/);
    assert.equal(plu.count(), 0, 'nothing changed');
    const r = plu.apply('plu_catalog', { items: [GOLDEN_CATALOG[1], { pluCode: 'abc', name: 'Y', price: 1 }] }, 1);
    assert.equal(r.refused.length, 1);
    assert.match(r.refused[0], /PLU abc: pluCode/);
    assert.equal(plu.count(), 1);
    assert.throws(() => plu.apply('plu_catalog', { items: 'all' }, 1), /plu_catalog needs msg.payload.items/);
    assert.throws(() => plu.apply('plu_deleted', { pluCode: 'x' }, 1), /plu_deleted needs msg.payload.pluCode/);
  });

  it('answers a file it cannot write with the reason, and keeps the catalogue', () => {
    plu.apply('plu_updated', GOLDEN_CATALOG[1], 1);
    fs.writeFileSync(path.join(dir, 'out'), 'a file where the folder should be');
    const w = plu.writeFile();
    assert.ok(w.error, 'an error, not an exception');
    assert.equal(plu.count(), 1);
  });

  it('throws when the catalogue cannot be read (the database is the node’s to reopen)', () => {
    db.close();
    assert.throws(() => plu.writeFile());
    db = openDatabase(path.join(dir, 'site.db'));
  });

  it('takes the three PLU topics', () => {
    assert.ok(isOneOf(PLU_TOPICS, 'plu_updated') && isOneOf(PLU_TOPICS, 'plu_deleted') && isOneOf(PLU_TOPICS, 'plu_catalog'));
    assert.ok(!isOneOf(PLU_TOPICS, 'write') && !isOneOf(PLU_TOPICS, 'plu_file'));
  });
});
