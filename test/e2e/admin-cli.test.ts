import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NodeRedProcess } from '../helpers/node-red-process';
import { freePort, waitFor } from '../helpers/node-red';
import { tempDirs } from '../helpers/temp';

const projectRoot = path.resolve(__dirname, '..', '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports -- bcryptjs comes with node-red, without types
const bcrypt = require('bcryptjs') as { hashSync(text: string, rounds: number): string };
const adminCli = path.join(projectRoot, 'node_modules', 'node-red-admin', 'node-red-admin.js');

describe('node-red-admin and the Admin API against a gateway with a login (real CLI, real Node-RED)', function () {
  this.timeout(120_000);
  const dirs = tempDirs();
  let red: NodeRedProcess | null = null;
  let home: string;
  const cli = (args: string[], input?: string): string =>
    execFileSync(process.execPath, [adminCli, ...args], { env: { ...process.env, HOME: home }, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

  /** Runs the CLI and answers its prompts one at a time, as a person at a terminal would. */
  const interact = (args: string[], answers: Array<[string, string]>): Promise<{ code: number | null; output: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [adminCli, ...args], { env: { ...process.env, HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      let from = 0;
      let next = 0;
      const onData = (d: Buffer): void => {
        output += d.toString();
        while (next < answers.length) {
          const at = output.indexOf(answers[next][0], from);
          if (at < 0) break;
          from = at + answers[next][0].length;
          child.stdin.write(answers[next][1]);
          next++;
          // After the last answer the terminal has nothing more to say.
          if (next === answers.length) child.stdin.end();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      const timer = setTimeout(() => child.kill(), 20_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });

  before(async () => {
    home = dirs.make('carnitrack-home-');
    const userDir = dirs.make('carnitrack-admin-');
    red = await NodeRedProcess.start({
      userDir,
      settings: {
        nodesDir: [projectRoot],
        adminAuth: { type: 'credentials', users: [{ username: 'engineer', password: bcrypt.hashSync('s3cret-pw', 8), permissions: '*' }] },
      },
      env: { TCP_PORT: String(await freePort()), CLOUD_WS_URL: 'ws://127.0.0.1:9/edge', EDGE_SITE_ID: 'ADMIN1' },
    });
  });
  after(async () => {
    await red?.stop();
    dirs.cleanup();
  });

  it('target, login and list show our module and its nodes', async () => {
    cli(['target', red!.url]);
    const login = await interact(
      ['login'],
      [
        ['Username:', 'engineer\n'],
        ['Password:', 's3cret-pw\n'],
      ],
    );
    assert.match(login.output, /Logged in/);
    assert.equal(login.code, 0);
    const list = cli(['list']);
    assert.match(list, /@carnitrack\/node-red-edge/);
    for (const type of ['dp401-in', 'session-cache', 'event-store', 'cloud-link', 'plu-out', 'carnitrack-site']) assert.match(list, new RegExp(type));
  });

  it('refuses a wrong password', async () => {
    const login = await interact(
      ['login'],
      [
        ['Username:', 'engineer\n'],
        ['Password:', 'wrong\n'],
      ],
    );
    assert.match(login.output, /Login failed/);
    assert.notEqual(login.code, 0);
    // log in again for the tests after this one
    await interact(
      ['login'],
      [
        ['Username:', 'engineer\n'],
        ['Password:', 's3cret-pw\n'],
      ],
    );
  });

  it('deploys the default flow to the gateway with the same credentials (npm run deploy-flow)', async () => {
    assert.throws(
      () =>
        execFileSync('npm', ['run', '--silent', 'deploy-flow', '--', '--url', red!.url], {
          cwd: projectRoot,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      /HTTP 401/,
      'no login, no deploy',
    );
    const out = execFileSync('npm', ['run', '--silent', 'deploy-flow', '--', '--url', red!.url, '--user', 'engineer'], {
      cwd: projectRoot,
      env: { ...process.env, NODE_RED_PASSWORD: 's3cret-pw' },
      encoding: 'utf8',
    });
    const nodes = (JSON.parse(fs.readFileSync(path.join(projectRoot, 'flows', 'carnitrack-default.json'), 'utf8')) as unknown[]).length;
    assert.match(out, new RegExp(`deployed carnitrack-default.json \\(${nodes} nodes\\)`));
    await waitFor(() => /listening for DP-401 scales/.test(red!.output), 'the deployed flow to run', 20_000);
    assert.match(red!.output, /site database .*carnitrack\.db/);
  });
});
