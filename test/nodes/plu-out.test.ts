import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FlowNode } from 'node-red-node-test-helper';
import siteModule = require('../../nodes/carnitrack-site/carnitrack-site');
import pluOutModule = require('../../nodes/plu-out/plu-out');
import { helper, withCatalog, waitFor, collect, calls, sleep, type Msg } from '../helpers/node-red';
import { tempDirs } from '../helpers/temp';
import { parsePluFile } from '../../lib/plu/plu-format';
import { GOLDEN_CATALOG } from '../helpers/plu';

const modules = [withCatalog(siteModule as never, 'carnitrack-site'), withCatalog(pluOutModule as never, 'plu-out')];
const short = { encoding: 'windows-1254', template: [] };

describe('plu-out node (real files, real SQLite)', function () {
  this.timeout(60_000);
  const dirs = tempDirs();
  let dir: string;
  let file: string;

  function flow(config: Record<string, unknown> = {}): FlowNode[] {
    return [
      { id: 'tab', type: 'tab' },
      { id: 'site', type: 'carnitrack-site', siteId: 'SITE01', databasePath: path.join(dir, 'site.db') },
      {
        id: 'plu',
        type: 'plu-out',
        z: 'tab',
        x: 100,
        y: 100,
        site: 'site',
        outputDir: path.join(dir, 'generated'),
        filename: 'plu.txt',
        debounceS: 0.05,
        ...config,
        wires: [['out']],
      },
      { id: 'out', type: 'helper', z: 'tab', x: 300, y: 100 },
    ];
  }
  async function start(config: Record<string, unknown> = {}) {
    await helper.load(modules, flow(config));
    return { plu: helper.getNode('plu'), out: collect(helper.getNode('out')) };
  }
  const codes = (): number[] => parsePluFile(fs.readFileSync(file), short).map((i) => i.pluCode);

  beforeEach(async () => {
    dir = dirs.make('carnitrack-plu-');
    file = path.join(dir, 'generated', 'plu.txt');
    await helper.startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    dirs.cleanup();
  });

  it('writes the file after updates, deletes and a full replacement, sorted, and sends it on', async () => {
    const { plu, out } = await start();
    for (const item of GOLDEN_CATALOG) plu.receive({ topic: 'plu_updated', payload: item });
    await waitFor(() => out.length === 1, 'one write for the burst of updates (debounced)');
    assert.deepEqual(codes(), [1, 2, 3, 4, 7]);
    const msg = out[0] as Msg & { filename: string; count: number };
    assert.equal(msg.filename, file);
    assert.equal(msg.count, 5);
    assert.ok(Buffer.isBuffer(msg.payload) && (msg.payload as Buffer).equals(fs.readFileSync(file)));

    plu.receive({ topic: 'plu_deleted', payload: { pluCode: 3 } });
    await waitFor(() => out.length === 2, 'the write after the delete');
    assert.deepEqual(codes(), [1, 2, 4, 7]);
    assert.deepEqual(
      parsePluFile(fs.readFileSync(`${file}.bak`), short).map((i) => i.pluCode),
      [1, 2, 3, 4, 7],
      'the previous file is kept',
    );

    plu.receive({
      topic: 'plu_catalog',
      payload: {
        items: [
          { pluCode: '00010', name: 'SUCUK', price: 30000 },
          { pluCode: 11, name: 'PASTIRMA', price: 90000 },
        ],
      },
    });
    await waitFor(() => out.length === 3, 'the write after the replacement');
    assert.deepEqual(codes(), [10, 11]);
  });

  it('refuses an invalid item alone, naming PLU and field, and still writes the rest', async () => {
    const { plu, out } = await start();
    const errors = calls(plu, 'error');
    plu.receive({
      topic: 'plu_catalog',
      payload: {
        items: [
          { pluCode: 1, name: 'KIYMA', price: 15 },
          { pluCode: 2, name: 'ÇOK UZUN BİR ÜRÜN ADI', price: 10 },
          { pluCode: 3, name: 'ŻUBR', price: 10 },
        ],
      },
    });
    await waitFor(() => out.length === 1, 'the write');
    assert.deepEqual(codes(), [1]);
    const texts = errors().map((e) => String(e[0]));
    assert.ok(
      texts.some((t) => /PLU 2: name .* longer than 16 characters/.test(t)),
      texts.join('\n'),
    );
    assert.ok(texts.some((t) => /PLU 3: name has characters windows-1254 cannot hold: "Ż" \(U\+017B\)/.test(t)));
    plu.receive({ topic: 'plu_updated', payload: { pluCode: 4, name: 'X', price: 123456 } });
    await waitFor(() => errors().some((e) => /PLU 4: price 123456/.test(String(e[0]))), 'the refusal of PLU 4');
    await sleep(150);
    assert.equal(out.length, 1, 'a refused update changes nothing and writes nothing');
  });

  it('truncates names when set to', async () => {
    const { plu, out } = await start({ truncateNames: true });
    plu.receive({ topic: 'plu_updated', payload: { pluCode: 2, name: 'ÇOK UZUN BİR ÜRÜN ADI', price: 10 } });
    await waitFor(() => out.length === 1, 'the write');
    assert.equal(parsePluFile(fs.readFileSync(file), short)[0].name, 'ÇOK UZUN BİR ÜRÜ');
  });

  it('keeps the catalogue across a restart', async () => {
    let n = await start();
    n.plu.receive({ topic: 'plu_updated', payload: { pluCode: 1, name: 'KIYMA', price: 15 } });
    await waitFor(() => n.out.length === 1, 'the first write');
    await helper.unload();
    n = await start();
    n.plu.receive({ topic: 'plu_updated', payload: { pluCode: 2, name: 'KUŞBAŞI', price: 20 } });
    await waitFor(() => n.out.length === 1, 'the write after the restart');
    assert.deepEqual(codes(), [1, 2]);
  });

  it('never lets a reader see a partial file while it is rewritten', async () => {
    const { plu, out } = await start({ debounceS: 0 });
    const big = Array.from({ length: 3000 }, (_, i) => ({ pluCode: i + 1, name: `ÜRÜN ${i + 1}`, price: i }));
    plu.receive({ topic: 'plu_catalog', payload: { items: big } });
    await waitFor(() => out.length === 1, 'the first big file');
    const full = fs.readFileSync(file).length;
    let reads = 0;
    let stop = false;
    const reader = (async () => {
      while (!stop && reads < 100_000) {
        const bytes = fs.readFileSync(file);
        reads++;
        // Every rewrite has the same 3000 lines of the same width: any partial file would be shorter.
        assert.equal(bytes.length, full, `read ${reads} saw a partial file`);
        assert.ok(bytes.subarray(-2).equals(Buffer.from('\r\n')), 'ends with a whole line');
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 20; i++) {
      plu.receive({ topic: 'plu_updated', payload: { pluCode: 1, name: `ÜRÜN ${i % 2}`, price: i } });
      await waitFor(() => out.length === i + 2, `rewrite ${i + 1}`);
    }
    stop = true;
    await reader;
    assert.ok(reads > 20, `the reader read ${reads} times`);
  });
});
