import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import helper = require('node-red-node-test-helper');
import type { NodeModule, TestNode } from 'node-red-node-test-helper';
import { weighingBytes, CRLF } from './lines';
import { parseStatusKey } from '../../nodes/shared/status-text';

helper.init(require.resolve('node-red'));
export { helper };

const projectRoot = path.resolve(__dirname, '..', '..', '..');

/**
 * The test helper replaces RED._ with the identity, so status texts would be bare keys.
 * This wraps a node module so RED._ reads the node's real en-US catalogue: tests see the
 * text a person sees, and a key missing from the catalogue fails the test.
 */
function translator(name: string): (key: string, vars?: Record<string, unknown>) => string {
  const catalog = JSON.parse(fs.readFileSync(path.join(projectRoot, 'locales', 'en-US', `${name}.json`), 'utf8')) as Record<string, unknown>;
  return (key: string, vars: Record<string, unknown> = {}): string => {
    let v: unknown = catalog;
    for (const part of key.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
    if (typeof v !== 'string') throw new Error(`message key ${key} is missing from locales/en-US/${name}.json`);
    return v.replace(/__(\w+)__/g, (_m, k: string) => {
      if (!(k in vars)) throw new Error(`message key ${key} needs __${k}__, which was not given`);
      return String(vars[k]);
    });
  };
}

/** A node status text as the editor shows it in English (statuses are keys: nodes/shared/status-text.ts). */
export function shownStatus(nodeType: string, text: unknown): string {
  const { key, values } = parseStatusKey(String(text));
  return translator(nodeType)(key, values);
}

export function withCatalog(register: (RED: never) => void, name: string): NodeModule {
  const translate = translator(name);
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
/** Polls a check until it holds; an async check (an HTTP request, say) is polled every 100 ms. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = check();
    if (typeof r === 'boolean' ? r : await r) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((res) => setTimeout(res, typeof r === 'boolean' ? 10 : 100));
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
  const type = (node as unknown as { type: string }).type;
  // Statuses read as the editor shows them, in English; a key missing from the catalogue throws.
  const shown = (args: unknown[]): unknown[] =>
    method === 'status' ? [{ ...(args[0] as object), text: shownStatus(type, (args[0] as { text?: unknown }).text) }, ...args.slice(1)] : args;
  return () =>
    spy
      .getCalls()
      .filter((c) => c.thisValue === node)
      .map((c) => shown(c.args));
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
