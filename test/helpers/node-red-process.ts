import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, waitFor } from './node-red';

/**
 * A real Node-RED process (not the test helper) on a loopback port, with its own user
 * directory and settings. `stop()` ends it and waits for the exit.
 */
export class NodeRedProcess {
  output = '';
  private child: ChildProcess | null = null;
  private exited = false;

  private constructor(
    readonly userDir: string,
    readonly port: number,
  ) {}

  static async start(opts: {
    userDir: string;
    settings?: Record<string, unknown>;
    env?: NodeJS.ProcessEnv;
    redJs?: string;
    node?: string;
  }): Promise<NodeRedProcess> {
    const port = await freePort();
    const p = new NodeRedProcess(opts.userDir, port);
    const settingsFile = path.join(opts.userDir, 'test-settings.js');
    const settings = {
      uiHost: '127.0.0.1',
      uiPort: port,
      userDir: opts.userDir,
      flowFile: 'flows.json',
      logging: { console: { level: 'info' } },
      ...opts.settings,
    };
    fs.writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
    const red = opts.redJs ?? require.resolve('node-red/red.js');
    const child = spawn(opts.node ?? process.execPath, [red, '--settings', settingsFile], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.child = child;
    child.stdout!.on('data', (d: Buffer) => (p.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (p.output += d.toString()));
    child.on('exit', () => (p.exited = true));
    await waitFor(() => /Server now running/.test(p.output) || p.exited, 'Node-RED to start', 60_000);
    if (p.exited) throw new Error(`Node-RED exited at start:\n${p.output}`);
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async getJson(route: string): Promise<unknown> {
    const res = await fetch(this.url + route, { headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error(`GET ${route}: HTTP ${res.status}`);
    return res.json();
  }

  async stop(): Promise<void> {
    if (!this.child || this.exited) return;
    this.child.kill('SIGTERM');
    try {
      await waitFor(() => this.exited, 'Node-RED to exit', 15_000);
    } catch {
      this.child.kill('SIGKILL');
      await waitFor(() => this.exited, 'Node-RED to die', 5_000);
    }
  }
}
