import * as assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, waitFor } from '../helpers/node-red';
import { tempDirs } from '../helpers/temp';
import { sqlitePrebuildEnv } from '../helpers/sqlite-prebuild';

const projectRoot = path.resolve(__dirname, '..', '..', '..');

/** The build stage's RUN commands and ENV values, from the Dockerfile. */
function dockerBuildStage(): { runs: string[]; env: Record<string, string>; healthcheck: string } {
  const text = fs.readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const stages = text.split(/^FROM /m).slice(1);
  const build = stages[0].split('\n');
  const runs = build.filter((l) => l.startsWith('RUN ')).map((l) => l.slice(4).trim());
  const env: Record<string, string> = {};
  for (const l of build.filter((x) => x.startsWith('ENV '))) {
    for (const m of l.slice(4).matchAll(/(\w+)=(\S+)/g)) env[m[1]] = m[2];
  }
  const hc = /HEALTHCHECK .*?CMD (.+)$/m.exec(stages[1]);
  return { runs, env, healthcheck: hc ? hc[1].trim() : '' };
}

/** The commands of the README's "What the Dockerfile runs" block. */
function readmeSteps(): string[] {
  const readme = fs.readFileSync(path.join(projectRoot, 'README.md'), 'utf8');
  const section = readme.split(/^### What the Dockerfile runs$/m)[1];
  assert.ok(section, 'README has a "What the Dockerfile runs" section');
  const block = /```bash\n([\s\S]*?)```/.exec(section)![1];
  return block
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

describe('the Dockerfile (no Docker engine here: its steps are run as the README gives them)', function () {
  this.timeout(900_000);
  const dirs = tempDirs();
  let red: ChildProcess | null = null;
  let exited = false;
  after(async () => {
    if (red && !exited) {
      red.kill('SIGTERM');
      await waitFor(() => exited, 'Node-RED to exit', 15_000);
    }
    dirs.cleanup();
  });

  it('has the same build steps as the README, and runs Node-RED with the Node flags npm start gives', () => {
    assert.deepEqual(dockerBuildStage().runs, readmeSteps());
    const cmd = /^CMD (\[.*\])$/m.exec(fs.readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8'));
    const nodeArgs = (JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { config: { nodeArgs: string } }).config.nodeArgs;
    const argv = JSON.parse(cmd![1]) as string[];
    assert.deepEqual(argv.slice(0, argv.indexOf('node_modules/node-red/red.js')), ['node', ...nodeArgs.split(' ')]);
  });

  it('builds a working gateway when its steps run in a fresh copy, and its HEALTHCHECK passes', async () => {
    const { runs, env, healthcheck } = dockerBuildStage();
    const work = dirs.make('carnitrack-docker-');
    const src = path.join(work, 'src');
    // COPY . . : the files of a clean checkout.
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: projectRoot, encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of files) {
      if (!fs.existsSync(path.join(projectRoot, f))) continue;
      fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      fs.copyFileSync(path.join(projectRoot, f), path.join(src, f));
    }
    // The image's absolute paths become folders of this test.
    // JOBS=max: node-gyp compiles better-sqlite3 on every core (the same build, sooner); the
    // binary this checkout's npm ci compiled is offered as a local prebuild (see sqlitePrebuildEnv).
    const stageEnv = {
      ...process.env,
      ...sqlitePrebuildEnv(),
      JOBS: 'max',
      PKG_DIR: path.join(work, 'pkg'),
      EDGE_HOME: path.join(work, 'edge'),
      npm_config_loglevel: 'error',
    };
    assert.deepEqual(Object.keys(env).sort(), ['EDGE_HOME', 'PKG_DIR']);
    for (const cmd of runs) execFileSync('bash', ['-c', cmd], { cwd: src, env: stageEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    const edge = stageEnv.EDGE_HOME;
    assert.ok(fs.existsSync(path.join(edge, 'node_modules', '@carnitrack', 'node-red-edge', 'dist', 'nodes', 'dp401-in', 'dp401-in.js')));
    assert.ok(!fs.existsSync(path.join(edge, 'node_modules', 'typescript')), 'no TypeScript in the runtime tree');

    const [httpPort, tcpPort] = [await freePort(), await freePort()];
    const data = path.join(work, 'data');
    let output = '';
    red = spawn(process.execPath, [path.join(edge, 'node_modules', 'node-red', 'red.js'), '--settings', path.join(edge, 'settings.js')], {
      cwd: edge,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        HTTP_PORT: String(httpPort),
        TCP_PORT: String(tcpPort),
        NODE_RED_USER_DIR: path.join(data, 'node-red'),
        DATABASE_PATH: path.join(data, 'carnitrack.db'),
        PLU_OUTPUT_DIR: path.join(data, 'generated'),
        CLOUD_WS_URL: 'ws://127.0.0.1:9/edge',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    red.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    red.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    red.on('exit', () => (exited = true));
    await waitFor(() => /listening for DP-401 scales/.test(output) || exited, 'the gateway to start', 60_000);
    assert.ok(!exited, output);
    assert.match(output, /seeded with the default flow/);
    assert.ok(fs.existsSync(path.join(data, 'carnitrack.db')), 'the database is under the data volume');
    execFileSync('sh', ['-c', healthcheck], { env: { ...process.env, HTTP_PORT: String(httpPort) } });
  });
});
