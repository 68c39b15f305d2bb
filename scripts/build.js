#!/usr/bin/env node
// Compiles the TypeScript to CommonJS and lays out the tree Node-RED loads: each node's
// .html (its definition and edit dialog made from its .form.json), icons/ and locales/<lang>/
// next to its registered .js, and flows/ as examples/.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { withForm } = require('./editor-forms');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const rel = (...p) => path.join(root, ...p);

for (const dir of ['dist', 'examples']) fs.rmSync(rel(dir), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', rel('tsconfig.json')], { stdio: 'inherit' });

const copy = (from, to) => {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
};

const types = { ...pkg['node-red'].nodes, ...(pkg['node-red'].plugins || {}) };
const languages = fs.readdirSync(rel('locales'));
for (const [type, jsPath] of Object.entries(types)) {
  const outDir = rel(path.dirname(jsPath));
  const base = path.basename(jsPath, '.js');
  const srcDir = rel(path.dirname(jsPath).replace(/^dist\//, ''));
  const html = path.join(srcDir, `${base}.html`);
  if (!fs.existsSync(html)) throw new Error(`${type}: no editor file ${html}`);
  // The definition and edit dialog come from <base>.form.json next to it (scripts/editor-forms.js).
  const formFile = path.join(srcDir, `${base}.form.json`);
  let editor = fs.readFileSync(html, 'utf8');
  if (fs.existsSync(formFile)) editor = withForm(type, editor, JSON.parse(fs.readFileSync(formFile, 'utf8')));
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `${base}.html`), editor);
  for (const icon of fs.readdirSync(rel('icons'))) copy(rel('icons', icon), path.join(outDir, 'icons', icon));
  for (const lang of languages) {
    for (const ext of ['.json', '.html']) {
      const f = rel('locales', lang, base + ext);
      if (fs.existsSync(f)) copy(f, path.join(outDir, 'locales', lang, base + ext));
    }
  }
}

fs.mkdirSync(rel('examples'), { recursive: true });
for (const f of fs.readdirSync(rel('flows'))) {
  if (f.endsWith('.json')) copy(rel('flows', f), rel('examples', f));
}
for (const bin of Object.values(pkg.bin || {})) fs.chmodSync(rel(bin), 0o755);
console.log(`built ${Object.keys(types).length} node type(s) into dist/`);
