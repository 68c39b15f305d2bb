import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import helper = require('node-red-node-test-helper');
import type { NodeModule, TestNode } from 'node-red-node-test-helper';
import { weighingBytes, CRLF } from './lines';

helper.init(require.resolve('node-red'));
export { helper };

const projectRoot = path.resolve(__dirname, '..', '..', '..');

/**
 * The test helper replaces RED._ with the identity, so status texts would be bare keys.
 * This wraps a node module so RED._ reads the node's real en-US catalogue: tests see the
 * text a person sees, and a key missing from the catalogue fails the test.
 */
export function withCatalog(register: (RED: never) => void, name: string): NodeModule {
  const catalog = JSON.parse(fs.readFileSync(path.join(projectRoot, 'locales', 'en-US', `${name}.json`), 'utf8')) as Record<string, unknown>;
  const translate = (key: string, vars: Record<string, unknown> = {}): string => {
    let v: unknown = catalog;
    for (const part of key.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
    if (typeof v !== 'string') throw new Error(`message key ${key} is missing from locales/en-US/${name}.json`);
    return v.replace(/__(\w+)__/g, (_m, k: string) => String(vars[k]));
  };
  return (RED: never) => {
    const wrapped = new Proxy(RED as object, {
      get: (target, prop, receiver) => (prop === '_' ? translate : Reflect.get(target, prop, receiver)),
    });
    register(wrapped as never);
  };
}

/** An ephemeral loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Polls until `check` holds; bounded in time, fails with `what` in the message. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Msg {
  topic?: string;
  payload?: unknown;
  _session?: { type: string; id: string };
  [k: string]: unknown;
}

/** Every message a helper node receives. */
export function collect(node: TestNode): Msg[] {
  const msgs: Msg[] = [];
  node.on('input', (m: Msg) => msgs.push(m));
  return msgs;
}

interface SpyCall {
  thisValue: unknown;
  args: unknown[];
}

/**
 * Every call so far of a node method (`warn`, `error`, `status`, `log`), as argument lists.
 * The test helper puts a sinon spy on each; reading its history misses no call made
 * while the node was being created.
 */
export function calls(node: TestNode, method: 'warn' | 'error' | 'status' | 'log'): () => unknown[][] {
  const spy = (node as unknown as Record<string, { getCalls(): SpyCall[] }>)[method];
  return () => spy.getCalls().filter((c) => c.thisValue === node).map((c) => c.args);
}

/** A raw TCP client standing in for a scale's WiFi module. */
export class ScaleClient {
  readonly socket: net.Socket;
  private received = Buffer.alloc(0);
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static connect(port: number, localAddress?: string): Promise<ScaleClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, localAddress });
      s.once('connect', () => resolve(new ScaleClient(s)));
      s.once('error', reject);
    });
  }

  write(data: Buffer | string): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  get oks(): number {
    return this.received.toString('latin1').split('OK\n').length - 1;
  }

  waitForOks(n: number, timeoutMs = 5000): Promise<void> {
    return waitFor(() => this.oks >= n, `${n} OK(s), got ${this.oks}`, timeoutMs);
  }

  /** Sends a weighing (tare 2500, gross = net + tare) and waits for its OK. */
  async weigh(netRaw: number): Promise<void> {
    const before = this.oks;
    this.write(Buffer.concat([weighingBytes({ netRaw, grossRaw: netRaw + 2500, tareRaw: 2500 }), CRLF]));
    await this.waitForOks(before + 1);
  }

  waitForClose(timeoutMs = 5000): Promise<void> {
    return waitFor(() => this.closed, 'the gateway to close the socket', timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
