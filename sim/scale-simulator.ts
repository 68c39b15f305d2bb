import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { encodeText } from '../lib/dp401/weighing-line';

/**
 * A simulated DP-401 label scale: a TCP client that behaves like the real WiFi module.
 * It registers on connect, sends `HB` on a timer, sends weighing lines in Windows-1254 with
 * padded fields, sometimes repeats a weighing (weigh + label print) or asks
 * `KONTROLLU AKTAR OK?`, splits writes at random byte boundaries, waits for `OK\n` before
 * the next weighing, and reconnects when the connection drops.
 */

export interface Product {
  plu: string;
  name: string;
  barcode: string;
}

export const PRODUCTS: Product[] = [
  { plu: '00001', name: 'KIYMA', barcode: '2000001000008' },
  { plu: '00002', name: 'KUŞBAŞI', barcode: '2000002000007' },
  { plu: '00003', name: 'BONFİLE', barcode: '2000003000006' },
  { plu: '00004', name: 'İŞKEMBE', barcode: '2000004000005' },
  { plu: '00005', name: 'ÇİĞ KÖFTE', barcode: '2000005000004' },
  { plu: '00007', name: 'KUZU PİRZOLA', barcode: '2000007015002' },
];
const OPERATORS = ['AYŞE', 'MEHMET', 'GÜLŞEN', 'İSMAİL'];
const COMPANY = 'ÖRNEK ET A.Ş.';

export interface ScaleSimOptions {
  host: string;
  port: number;
  deviceId: string;
  /** Weighings per second (on average). */
  rate: number;
  /** Stop weighing after this many (acknowledged or timed out); Infinity for no limit. */
  maxWeighings?: number;
  heartbeatMs?: number;
  duplicateProbability?: number;
  transferQueryProbability?: number;
  splitWrites?: boolean;
  register?: boolean;
  reconnectDelayMs?: number;
  /** How long to wait for OK before giving up on a weighing. */
  ackTimeoutMs?: number;
  seed?: number;
  encoding?: string;
}

export interface Weighing {
  deviceId: string;
  pluCode: string;
  productName: string;
  netGrams: number;
  tareGrams: number;
  line: string;
}

export interface ScaleSimEvents {
  connected: [];
  disconnected: [];
  acked: [weighing: Weighing];
  timeout: [weighing: Weighing];
  done: [];
  error: [err: Error];
}

/** False once the socket is ended or destroyed: a write then would fail with ERR_STREAM_WRITE_AFTER_END. */
function canWrite(socket: net.Socket): boolean {
  return !socket.destroyed && socket.writable && !socket.writableEnded;
}

/** A small seeded PRNG (mulberry32) so a run can be repeated exactly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad2 = (n: number): string => String(n).padStart(2, '0');
const digits = (n: number, width: number): string => String(n).padStart(width, '0');

/** One weighing line as a DP-401 prints it (without the terminator). */
export function formatWeighingLine(p: {
  plu: string;
  when: Date;
  name: string;
  barcode: string;
  operator: string;
  grossRaw: number;
  tareRaw: number;
  netRaw: number;
  company?: string;
  prefix?: '' | 'P' | 'P"';
}): string {
  const d = p.when;
  return [
    `${p.prefix ?? ''}${p.plu}`,
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`,
    `${pad2(d.getDate())}.${pad2(d.getMonth() + 1)}.${d.getFullYear()}`,
    p.name.padEnd(16, ' ').slice(0, 16),
    p.barcode,
    '0000',
    p.operator.padEnd(48, ' ').slice(0, 48),
    digits(p.grossRaw, 10),
    digits(p.tareRaw, 10),
    digits(p.netRaw, 10),
    '0',
    '0',
    '0',
    '1',
    'N',
    p.company ?? COMPANY,
  ].join(',');
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ScaleSimulator extends EventEmitter<ScaleSimEvents> {
  readonly stats = { connects: 0, sent: 0, acked: 0, timeouts: 0, duplicatesSent: 0, transferQueries: 0, heartbeats: 0 };
  private socket: net.Socket | null = null;
  private stopped = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private weighTimer: NodeJS.Timeout | null = null;
  private okCount = 0;
  private okWaiters: Array<() => void> = [];
  private rxTail = '';
  private readonly random: () => number;
  private readonly o: Required<ScaleSimOptions>;
  private busy = false;
  private completed = 0;

  constructor(options: ScaleSimOptions) {
    super();
    this.o = {
      maxWeighings: Infinity,
      heartbeatMs: 30_000,
      duplicateProbability: 0.1,
      transferQueryProbability: 0.1,
      splitWrites: true,
      register: true,
      reconnectDelayMs: 1000,
      ackTimeoutMs: 10_000,
      seed: Math.floor(Math.random() * 2 ** 31),
      encoding: 'windows-1254',
      // An option given as undefined (the command line's `seed: undefined` without --seed) keeps
      // its default: spread as it is, it gave every scale seed 0, so every scale weighed the
      // same weights in the same millisecond.
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as Required<ScaleSimOptions>;
    this.random = seededRandom(this.o.seed);
  }

  get done(): boolean {
    return this.completed >= this.o.maxWeighings;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.heartbeatTimer, this.reconnectTimer, this.weighTimer]) if (t) clearTimeout(t);
    this.heartbeatTimer = this.reconnectTimer = this.weighTimer = null;
    for (const w of this.okWaiters.splice(0)) w();
    const s = this.socket;
    this.socket = null;
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.end();
        setTimeout(() => s.destroy(), 500).unref();
      });
    }
  }

  /** Builds the next weighing (also used by tests to get realistic lines). */
  nextWeighing(when = new Date()): Weighing & { bytes: Buffer } {
    const p = PRODUCTS[Math.floor(this.random() * PRODUCTS.length)];
    const netRaw = 200 + Math.floor(this.random() * 4800);
    const tareRaw = Math.floor(this.random() * 30) * 10;
    const line = formatWeighingLine({
      plu: p.plu,
      when,
      name: p.name,
      barcode: p.barcode,
      operator: OPERATORS[Math.floor(this.random() * OPERATORS.length)],
      grossRaw: netRaw + tareRaw,
      tareRaw,
      netRaw,
    });
    return {
      deviceId: this.o.deviceId,
      pluCode: p.plu,
      productName: p.name,
      netGrams: netRaw,
      tareGrams: tareRaw,
      line,
      bytes: encodeText(line + '\r\n', this.o.encoding),
    };
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = net.connect({ host: this.o.host, port: this.o.port });
    this.socket = socket;
    this.rxTail = '';
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.stats.connects++;
      if (this.o.register) socket.write(this.o.deviceId);
      this.heartbeatTimer = setInterval(() => {
        if (canWrite(socket)) {
          socket.write('HB');
          this.stats.heartbeats++;
        }
      }, this.o.heartbeatMs);
      this.emit('connected');
      this.scheduleWeighing();
    });
    socket.on('data', (chunk: Buffer) => {
      // Count every OK\n, even one split across reads.
      const text = this.rxTail + chunk.toString('latin1');
      const parts = text.split('OK\n');
      this.rxTail = parts.pop()!.slice(-2);
      for (let i = 0; i < parts.length; i++) {
        this.okCount++;
        this.okWaiters.shift()?.();
      }
    });
    socket.on('error', (err) => this.emit('error', err));
    socket.on('close', () => {
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = null;
      if (this.weighTimer) clearTimeout(this.weighTimer);
      this.weighTimer = null;
      for (const w of this.okWaiters.splice(0)) w();
      if (this.socket === socket) this.socket = null;
      if (this.stopped) return;
      this.emit('disconnected');
      if (!this.stopped) this.reconnectTimer = setTimeout(() => this.connect(), this.o.reconnectDelayMs);
    });
  }

  private scheduleWeighing(): void {
    if (this.stopped || this.done || this.weighTimer || this.busy) return;
    const meanMs = 1000 / this.o.rate;
    const wait = meanMs * (0.5 + this.random());
    this.weighTimer = setTimeout(() => {
      this.weighTimer = null;
      void this.weighOnce().then(() => this.scheduleWeighing());
    }, wait);
  }

  /** Writes bytes, split at random boundaries into separate TCP writes when enabled. */
  private async writeSplit(socket: net.Socket, bytes: Buffer): Promise<void> {
    if (!canWrite(socket)) return;
    if (!this.o.splitWrites || bytes.length < 2) {
      socket.write(bytes);
      return;
    }
    let pos = 0;
    // The socket may be ended (Ctrl-C, stop()) while a split write waits between pieces.
    while (pos < bytes.length && canWrite(socket)) {
      const n = 1 + Math.floor(this.random() * Math.min(64, bytes.length - pos));
      socket.write(bytes.subarray(pos, pos + n));
      pos += n;
      if (pos < bytes.length) await delay(1);
    }
  }

  /** Resolves true on OK, false on timeout or disconnect. */
  private waitForOk(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.okWaiters.indexOf(onOk);
        if (i >= 0) this.okWaiters.splice(i, 1);
        resolve(false);
      }, this.o.ackTimeoutMs);
      const onOk = (): void => {
        clearTimeout(timer);
        resolve(!!this.socket);
      };
      this.okWaiters.push(onOk);
    });
  }

  private async send(bytes: Buffer): Promise<boolean> {
    const socket = this.socket;
    if (!socket || !canWrite(socket)) return false;
    const ok = this.waitForOk();
    await this.writeSplit(socket, bytes);
    return ok;
  }

  private async weighOnce(): Promise<void> {
    if (!this.socket || this.busy) return;
    this.busy = true;
    try {
      if (this.random() < this.o.transferQueryProbability) {
        this.stats.transferQueries++;
        await this.send(Buffer.from('KONTROLLU AKTAR OK?', 'latin1'));
      }
      const w = this.nextWeighing();
      this.stats.sent++;
      const ok = await this.send(w.bytes);
      if (ok) {
        this.stats.acked++;
        this.completed++;
        this.emit('acked', w);
        if (this.random() < this.o.duplicateProbability && this.socket) {
          // the label-print repeat of the same weighing
          this.stats.duplicatesSent++;
          await this.send(w.bytes);
        }
      } else if (this.socket) {
        this.stats.timeouts++;
        this.completed++;
        this.emit('timeout', w);
      }
      if (this.done) this.emit('done');
    } finally {
      this.busy = false;
    }
  }
}
