/**
 * Splits the byte stream of one DP-401 TCP connection into packets.
 *
 * TCP has no packet boundaries: packets arrive split at any byte and glued together
 * (`SCALE-01HBHB` is three packets). Registration, heartbeat and the transfer query have
 * no terminator, weighing lines end in CR LF, LF or CR. Bytes that start no known packet
 * are reported as junk one run at a time, so they never hide the packets behind them.
 *
 * Memory is bounded: the framer keeps at most `maxLineBytes` of one unfinished line.
 * A longer line is skipped up to its terminator and reported once as an overflow.
 */

export type Packet =
  | { kind: 'register'; deviceId: string }
  /** `SCALE-` with more than two digits (e.g. `SCALE-100`): refused, never truncated. */
  | { kind: 'bad-register'; text: string }
  | { kind: 'heartbeat' }
  | { kind: 'transfer-query' }
  | { kind: 'line'; bytes: Buffer }
  | { kind: 'junk'; length: number; sample: Buffer }
  | { kind: 'overflow'; length: number };

const CR = 0x0d;
const LF = 0x0a;
const HEARTBEAT = Buffer.from('HB', 'latin1');
const TRANSFER_QUERY = Buffer.from('KONTROLLU AKTAR OK?', 'latin1');
const REGISTER_PREFIX = Buffer.from('SCALE-', 'latin1');
const REGISTER_LENGTH = REGISTER_PREFIX.length + 2;
const JUNK_SAMPLE_BYTES = 32;
/** Digits of a refused registration reported at most (the rest is junk). */
const BAD_REGISTER_DIGITS = 16;

type Match = { packet: Packet; length: number } | 'partial' | null;

const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;

/** Compares `buf[pos..]` with `literal`: true, false, or 'partial' when the buffer ends first. */
function startsWith(buf: Buffer, pos: number, literal: Buffer): boolean | 'partial' {
  const n = Math.min(literal.length, buf.length - pos);
  for (let i = 0; i < n; i++) if (buf[pos + i] !== literal[i]) return false;
  return n === literal.length ? true : 'partial';
}

/** A packet without terminator starting at `pos`. */
function matchFixedPacket(buf: Buffer, pos: number): Match {
  let sawPartial = false;
  const reg = startsWith(buf, pos, REGISTER_PREFIX);
  if (reg === true) {
    if (buf.length - pos < REGISTER_LENGTH) {
      const d = buf.subarray(pos + REGISTER_PREFIX.length);
      if (d.every(isDigit)) sawPartial = true;
    } else if (isDigit(buf[pos + 6]) && isDigit(buf[pos + 7])) {
      const after = pos + REGISTER_LENGTH;
      // A digit right after SCALE-NN starts either a weighing line (SCALE-01 glued to
      // `00007,...`) or a longer id such as SCALE-100, which DP401.md does not allow.
      const next = after < buf.length && isDigit(buf[after]) ? lineStarts(buf, after) : true;
      if (next === 'partial') return 'partial';
      if (next === true) {
        return {
          packet: { kind: 'register', deviceId: buf.toString('latin1', pos, after) },
          length: REGISTER_LENGTH,
        };
      }
      let end = after;
      while (end < buf.length && end - pos - REGISTER_PREFIX.length < BAD_REGISTER_DIGITS && isDigit(buf[end])) end++;
      return { packet: { kind: 'bad-register', text: buf.toString('latin1', pos, end) }, length: end - pos };
    }
  } else if (reg === 'partial') sawPartial = true;

  const hb = startsWith(buf, pos, HEARTBEAT);
  if (hb === true) return { packet: { kind: 'heartbeat' }, length: HEARTBEAT.length };
  if (hb === 'partial') sawPartial = true;

  const tq = startsWith(buf, pos, TRANSFER_QUERY);
  if (tq === true) return { packet: { kind: 'transfer-query' }, length: TRANSFER_QUERY.length };
  if (tq === 'partial') sawPartial = true;

  return sawPartial ? 'partial' : null;
}

/**
 * Does a weighing line start at `pos`? It must look like `PLU,` with PLU five digits,
 * optionally prefixed by `P` or `P"` (a resent line).
 */
function lineStarts(buf: Buffer, pos: number): boolean | 'partial' {
  let i = pos;
  const end = buf.length;
  if (i < end && buf[i] === 0x50 /* P */) {
    i++;
    if (i < end && buf[i] === 0x22 /* " */) i++;
  }
  for (let d = 0; d < 5; d++, i++) {
    if (i >= end) return 'partial';
    if (!isDigit(buf[i])) return false;
  }
  if (i >= end) return 'partial';
  return buf[i] === 0x2c; /* , */
}

function findTerminator(buf: Buffer, from: number): number {
  for (let i = from; i < buf.length; i++) {
    const b = buf[i];
    if (b === CR || b === LF) return i;
  }
  return -1;
}

export class Dp401Framer {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes of an overlong line skipped so far; -1 when not skipping. */
  private skipped = -1;

  constructor(private readonly maxLineBytes: number) {
    if (!(maxLineBytes >= 64)) throw new RangeError('maxLineBytes must be at least 64');
  }

  /** Bytes held for an unfinished packet (never more than maxLineBytes). */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): Packet[] {
    const out: Packet[] = [];
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;

    while (pos < buf.length) {
      if (this.skipped >= 0) {
        const t = findTerminator(buf, pos);
        if (t < 0) {
          this.skipped += buf.length - pos;
          pos = buf.length;
          break;
        }
        out.push({ kind: 'overflow', length: this.skipped + (t - pos) });
        this.skipped = -1;
        pos = t;
        continue;
      }

      const b = buf[pos];
      if (b === CR || b === LF) {
        pos++;
        continue;
      }

      const fixed = matchFixedPacket(buf, pos);
      if (fixed === 'partial') break;
      if (fixed) {
        out.push(fixed.packet);
        pos += fixed.length;
        continue;
      }

      const line = lineStarts(buf, pos);
      if (line === 'partial') break;
      if (line) {
        const t = findTerminator(buf, pos);
        if (t < 0) {
          if (buf.length - pos > this.maxLineBytes) {
            this.skipped = buf.length - pos;
            pos = buf.length;
          }
          break;
        }
        if (t - pos > this.maxLineBytes) out.push({ kind: 'overflow', length: t - pos });
        else out.push({ kind: 'line', bytes: Buffer.from(buf.subarray(pos, t)) });
        pos = t;
        continue;
      }

      // Junk: advance until something could start a packet, or the buffer ends.
      const start = pos;
      pos++;
      while (pos < buf.length) {
        const c = buf[pos];
        if (c === CR || c === LF) break;
        if (matchFixedPacket(buf, pos) !== null) break;
        if (lineStarts(buf, pos) !== false) break;
        pos++;
      }
      out.push({
        kind: 'junk',
        length: pos - start,
        sample: Buffer.from(buf.subarray(start, Math.min(pos, start + JUNK_SAMPLE_BYTES))),
      });
    }

    // Keep only the unfinished tail, copied so a large chunk is not retained by a slice.
    const rest = buf.length - pos;
    this.pending = rest > 0 ? Buffer.from(buf.subarray(pos)) : Buffer.alloc(0);
    return out;
  }
}
