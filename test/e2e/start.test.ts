import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, waitFor } from '../helpers/node-red';
import { DebugSidebar } from '../helpers/debug-sidebar';
import { ScaleSimulator } from '../../sim/scale-simulator';

const projectRoot = path.resolve(__dirname, '..', '..', '..');

describe('npm start with the scale simulator (real Node-RED process)', function () {
  this.timeout(120_000);
  let child: ChildProcess | null = null;
  let exited = false;
  let output = '';
  let userDir: string;
  let sidebar: DebugSidebar | null = null;
  const sims: ScaleSimulator[] = [];

  after(async () => {
    sidebar?.close();
    await Promise.all(sims.map((s) => s.stop()));
    if (child && !exited) {
      child.kill('SIGTERM');
      await waitFor(() => exited, 'Node-RED to exit', 15_000);
    }
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it('shows the simulated weighings in the debug sidebar', async () => {
    const [httpPort, tcpPort] = [await freePort(), await freePort()];
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carnitrack-start-'));
    // What `npm start` runs after its build step.
    child = spawn(process.execPath, [path.join(projectRoot, 'scripts', 'start.js')], {
      cwd: projectRoot,
      env: { ...process.env, HTTP_PORT: String(httpPort), TCP_PORT: String(tcpPort), NODE_RED_USER_DIR: userDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', () => (exited = true));
    await waitFor(() => /listening for DP-401 scales/.test(output) || exited, 'Node-RED and dp401-in to start', 60_000);
    assert.ok(!exited, output);
    assert.match(output, new RegExp(`Server now running at http://127\\.0\\.0\\.1:${httpPort}/`));

    sidebar = await DebugSidebar.open(`http://127.0.0.1:${httpPort}`);
    for (const id of ['SCALE-01', 'SCALE-02']) {
      const sim = new ScaleSimulator({ host: '127.0.0.1', port: tcpPort, deviceId: id, rate: 20, maxWeighings: 3, duplicateProbability: 0, seed: 7 });
      sims.push(sim);
      sim.start();
    }
    await waitFor(() => sims.every((s) => s.done), 'every simulated weighing to get its OK', 30_000);
    await sidebar.waitForCount(6);
    const weighings = sidebar.messages.filter((m) => m.name === 'weighings').map((m) => JSON.parse(m.msg) as { deviceId: string; productName: string; weightGrams: number });
    assert.equal(weighings.length, 6);
    assert.deepEqual([...new Set(weighings.map((w) => w.deviceId))].sort(), ['SCALE-01', 'SCALE-02']);
    for (const w of weighings) assert.ok(w.weightGrams >= 200 && w.weightGrams < 5000);
    // Names come through in Turkish, decoded from the scale's Windows-1254 bytes.
    assert.ok(weighings.every((w) => /^[A-ZÇĞİÖŞÜ ]+$/.test(w.productName)), JSON.stringify(weighings.map((w) => w.productName)));
  });
});
