#!/usr/bin/env node
// `npm run validate`: the Flow Library scorecard (node-red-dev validate) on the packed package.
// Packs the built tree, unpacks it into a temp folder, runs node-red-dev there, writes the
// scorecard to test-artifacts/scorecard.json and fails unless every check passes. The Flow
// Library catalogue cannot be reached from here: scripts/offline-catalogue.js stands in for it.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'carnitrack-validate-'));
try {
  const out = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' }));
  execFileSync('tar', ['xzf', path.join(work, out[0].filename), '-C', work]);
  const pkgDir = path.join(work, 'package');
  const card = path.join(root, 'test-artifacts', 'scorecard.json');
  fs.mkdirSync(path.dirname(card), { recursive: true });
  const cli = path.join(root, 'node_modules', 'node-red-dev', 'bin', 'run');
  const env = { ...process.env, NODE_OPTIONS: `--require ${path.join(__dirname, 'offline-catalogue.js')}` };
  execFileSync(process.execPath, [cli, 'validate', '-p', pkgDir, '-o', card], { cwd: pkgDir, env, stdio: 'inherit' });
  const scorecard = JSON.parse(fs.readFileSync(card, 'utf8'));
  const failed = Object.entries(scorecard).filter(([k, v]) => k !== 'package' && v && v.test !== true);
  if (failed.length) {
    console.error(`scorecard checks failed: ${failed.map(([k, v]) => `${k} ${JSON.stringify(v)}`).join('; ')}`);
    process.exit(1);
  }
  console.log(`all ${Object.keys(scorecard).length - 1} scorecard checks pass (scorecard in test-artifacts/scorecard.json)`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
