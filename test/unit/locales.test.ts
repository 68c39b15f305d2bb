import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const localesDir = path.resolve(__dirname, '..', '..', '..', 'locales');

function flatten(d: Record<string, unknown>, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(d)) {
    if (v && typeof v === 'object') for (const [kk, vv] of flatten(v as Record<string, unknown>, `${prefix}${k}.`)) out.set(kk, vv);
    else out.set(prefix + k, String(v));
  }
  return out;
}
const placeholders = (s: string): string[] => [...s.matchAll(/__(\w+)__/g)].map((m) => m[1]).sort();

describe('message catalogues', () => {
  const languages = fs.readdirSync(localesDir).filter((l) => l !== 'en-US');
  const files = fs.readdirSync(path.join(localesDir, 'en-US'));

  it('has a Turkish catalogue', () => {
    assert.ok(languages.includes('tr'));
  });

  for (const lang of languages) {
    it(`${lang}: every file, every key and every placeholder of en-US`, () => {
      for (const f of files) {
        const other = path.join(localesDir, lang, f);
        assert.ok(fs.existsSync(other), `${lang}/${f} exists`);
        if (!f.endsWith('.json')) {
          assert.match(fs.readFileSync(other, 'utf8'), /data-help-name="[a-z0-9-]+"/);
          continue;
        }
        const en = flatten(JSON.parse(fs.readFileSync(path.join(localesDir, 'en-US', f), 'utf8')));
        const tr = flatten(JSON.parse(fs.readFileSync(other, 'utf8')));
        assert.deepEqual([...tr.keys()].sort(), [...en.keys()].sort(), `${lang}/${f} keys`);
        for (const [k, v] of en) assert.deepEqual(placeholders(tr.get(k)!), placeholders(v), `${lang}/${f} ${k} placeholders`);
      }
    });
  }

  // Node-RED's guidance: a status wider than its node overlaps the neighbours; keep it short.
  it('keeps every node status short (at most 24 characters with typical figures), in every language', () => {
    const sample: Record<string, string> = { kg: '12.345', when: '12:34:56', port: '3001' };
    for (const lang of ['en-US', ...languages]) {
      for (const f of files.filter((x) => x.endsWith('.json'))) {
        for (const [k, v] of flatten(JSON.parse(fs.readFileSync(path.join(localesDir, lang, f), 'utf8')))) {
          if (!/^[a-z0-9-]+\.status\./.test(k)) continue;
          const shown = v.replace(/__(\w+)__/g, (_m, name: string) => sample[name] ?? '99');
          assert.ok(shown.length <= 24, `${lang}/${f} ${k}: "${shown}" is ${shown.length} characters`);
        }
      }
    }
  });
});
