import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const projectRoot = path.resolve(__dirname, '..', '..', '..');

describe('the Flow Library scorecard (node-red-dev validate on the packed package)', function () {
  this.timeout(300_000);

  it('passes every check', () => {
    // scripts/validate.js stands in for the unreachable Flow Library catalogue (it says so);
    // the npm registry checks (versions, dependency freshness) are real.
    const out = execFileSync(process.execPath, [path.join(projectRoot, 'scripts', 'validate.js')], {
      cwd: projectRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.match(out, /all \d+ scorecard checks pass/);
    const card = JSON.parse(fs.readFileSync(path.join(projectRoot, 'test-artifacts', 'scorecard.json'), 'utf8')) as Record<
      string,
      { test?: boolean; nodes?: string[] }
    >;
    for (const check of ['P01', 'P03', 'P04', 'P05', 'P06', 'P07', 'P08', 'N01', 'N02', 'D01', 'D02', 'D03']) {
      assert.equal(card[check]?.test, true, `${check}: ${JSON.stringify(card[check])}`);
    }
    assert.deepEqual([...(card.N02.nodes ?? [])].sort(), ['cloud-link', 'dp401-in', 'event-store', 'plu-out', 'session-cache']);
  });
});
