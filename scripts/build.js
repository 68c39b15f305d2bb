#!/usr/bin/env node
// Compiles the TypeScript to CommonJS and lays out the tree Node-RED loads: each node's
// .html (made by scripts/editor-forms.js from its settings in lib/settings/node-fields.ts, its
// .form.json and its .editor.js), its icon in icons/ and locales/<lang>/ next to its registered
// .js, and flows/ as examples/. Node-RED looks an icon up in every icons/ folder of the module,
// so each icon is laid out once, next to the node it is named after.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { editorHtml } = require('./editor-forms');

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
// Each node's settings, the one source the runtime parsers read too (compiled just above).
const settingsOf = require(rel('dist', 'lib', 'settings', 'node-fields.js')).NODE_SETTINGS;
const iconFiles = fs.readdirSync(rel('icons'));
for (const icon of iconFiles) {
  if (!types[path.basename(icon, '.svg')]) throw new Error(`icons/${icon} is named after no node type: it would not be shipped`);
}
const languages = fs.readdirSync(rel('locales'));
for (const [type, jsPath] of Object.entries(types)) {
  const outDir = rel(path.dirname(jsPath));
  const base = path.basename(jsPath, '.js');
  const srcDir = rel(path.dirname(jsPath).replace(/^dist\//, ''));
  const formFile = path.join(srcDir, `${base}.form.json`);
  let editor;
  if (fs.existsSync(formFile)) {
    // A node: its definition and edit dialog (scripts/editor-forms.js), after its own editor script if it has one.
    const ownFile = path.join(srcDir, `${base}.editor.js`);
    const own = fs.existsSync(ownFile) ? fs.readFileSync(ownFile, 'utf8') : null;
    editor = editorHtml(type, JSON.parse(fs.readFileSync(formFile, 'utf8')), settingsOf[type] ?? {}, own);
  } else {
    const html = path.join(srcDir, `${base}.html`);
    if (!fs.existsSync(html)) throw new Error(`${type}: neither ${formFile} nor an editor file ${html}`);
    editor = fs.readFileSync(html, 'utf8');
  }
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `${base}.html`), editor);
  const icon = rel('icons', `${type}.svg`);
  if (fs.existsSync(icon)) copy(icon, path.join(outDir, 'icons', `${type}.svg`));
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
