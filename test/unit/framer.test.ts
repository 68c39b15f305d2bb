import * as assert from 'node:assert/strict';
import { Dp401Framer, type Packet } from '../../lib/dp401/framer';
import { weighingBytes, CRLF, b } from '../helpers/lines';

/** Packets with the byte payloads made readable, for deepEqual. */
function readable(packets: Packet[]): unknown[] {
  return packets.map((p) => {
    if (p.kind === 'line') return { kind: 'line', text: p.bytes.toString('latin1') };
    if (p.kind === 'junk') return { kind: 'junk', length: p.length };
    return p;
  });
}

function feed(framer: Dp401Framer, chunks: Buffer[]): unknown[] {
  return readable(chunks.flatMap((c) => framer.push(c)));
}

/** Merges consecutive junk reports, whose split depends on chunk boundaries. */
function mergeJunk(packets: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const p of packets as Array<{ kind: string; length?: number }>) {
    const prev = out[out.length - 1] as { kind: string; length: number } | undefined;
    if (p.kind === 'junk' && prev?.kind === 'junk') prev.length += p.length!;
    else out.push({ ...p });
  }
  return out;
}

describe('Dp401Framer', () => {
  const line = weighingBytes();
  const lineText = line.toString('latin1');
  // Every packet kind, glued together, with every line ending and a resent line.
  const stream = Buffer.concat([
    b('SCALE-01'),
    b('HB'),
    b('KONTROLLU AKTAR OK?'),
    line,
    b('\r\n'),
    b('KONTROLLU AKTAR OK?\n'),
    line,
    b('\n'),
    b('HBHB'),
    b('P'),
    line,
    b('\r'),
    b('P"'),
    line,
    b('\r\n'),
  ]);
  const expected = [
    { kind: 'register', deviceId: 'SCALE-01' },
    { kind: 'heartbeat' },
    { kind: 'transfer-query' },
    { kind: 'line', text: lineText },
    { kind: 'transfer-query' },
    { kind: 'line', text: lineText },
    { kind: 'heartbeat' },
    { kind: 'heartbeat' },
    { kind: 'line', text: 'P' + lineText },
    { kind: 'line', text: 'P"' + lineText },
  ];

  it('finds every packet kind glued together in one chunk', () => {
    assert.deepEqual(feed(new Dp401Framer(4096), [stream]), expected);
  });

  it('finds the same packets when the stream is split at any single byte', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const got = feed(new Dp401Framer(4096), [stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(got, expected, `split at byte ${cut}`);
    }
  });

  it('finds the same packets when fed one byte at a time', () => {
    const framer = new Dp401Framer(4096);
    const chunks = [...stream].map((x) => Buffer.from([x]));
    assert.deepEqual(feed(framer, chunks), expected);
    assert.equal(framer.bufferedBytes, 0);
  });

  it('keeps registration and heartbeat text inside a weighing line as part of the line', () => {
    const tricky = weighingBytes({ name: 'HB SCALE-02', operator: 'HBHB' });
    const got = feed(new Dp401Framer(4096), [Buffer.concat([tricky, CRLF, b('HB')])]);
    assert.deepEqual(got, [{ kind: 'line', text: tricky.toString('latin1') }, { kind: 'heartbeat' }]);
  });

  it('reports junk between packets and still finds the packets behind it', () => {
    const got = mergeJunk(feed(new Dp401Framer(4096), [b('\x00\xffgarbage'), b('HB'), b('1234'), b('xyz'), b('SCALE-03'), line, CRLF]));
    assert.deepEqual(got, [
      { kind: 'junk', length: 9 },
      { kind: 'heartbeat' },
      { kind: 'junk', length: 7 },
      { kind: 'register', deviceId: 'SCALE-03' },
      { kind: 'line', text: lineText },
    ]);
  });

  it('treats a broken registration (SCALE-X1) as junk', () => {
    const got = mergeJunk(feed(new Dp401Framer(4096), [b('SCALE-X1HB')]));
    assert.deepEqual(got, [{ kind: 'junk', length: 8 }, { kind: 'heartbeat' }]);
  });

  it('discards a line over the cap, reports it once, and parses what follows', () => {
    const framer = new Dp401Framer(256);
    const long = Buffer.concat([b('00001,'), Buffer.alloc(1000, 0x41)]);
    const got = feed(framer, [long.subarray(0, 300), long.subarray(300), CRLF, b('HB'), line, CRLF]);
    assert.deepEqual(got, [{ kind: 'overflow', length: 1006 }, { kind: 'heartbeat' }, { kind: 'line', text: lineText }]);
  });

  it('keeps memory bounded on a 10 MiB line without a newline', () => {
    const framer = new Dp401Framer(4096);
    const chunk = Buffer.alloc(64 * 1024, 0x30); // digits: looks like the start of a line
    const first = Buffer.concat([b('00001,'), chunk]);
    let maxBuffered = 0;
    const packets: Packet[] = framer.push(first);
    for (let sent = first.length; sent < 10 * 1024 * 1024; sent += chunk.length) {
      packets.push(...framer.push(chunk));
      maxBuffered = Math.max(maxBuffered, framer.bufferedBytes);
    }
    assert.ok(maxBuffered <= 4096, `buffered ${maxBuffered} bytes`);
    packets.push(...framer.push(Buffer.concat([CRLF, b('SCALE-04HB'), line, CRLF])));
    const got = readable(packets);
    assert.equal((got[0] as { kind: string }).kind, 'overflow');
    assert.ok((got[0] as { length: number }).length >= 10 * 1024 * 1024);
    assert.deepEqual(got.slice(1), [{ kind: 'register', deviceId: 'SCALE-04' }, { kind: 'heartbeat' }, { kind: 'line', text: lineText }]);
  });

  it('skips 10 MiB of junk without a newline and finds the heartbeat right after it', () => {
    const framer = new Dp401Framer(4096);
    const chunk = Buffer.alloc(64 * 1024, 0x7a); // 'z'
    let junk = 0;
    for (let i = 0; i < 160; i++) {
      for (const p of framer.push(chunk)) if (p.kind === 'junk') junk += p.length;
      assert.ok(framer.bufferedBytes <= 64);
    }
    const tail = framer.push(b('HB'));
    assert.equal(junk + tail.filter((p) => p.kind === 'junk').reduce((n, p) => n + (p.kind === 'junk' ? p.length : 0), 0), 160 * 64 * 1024);
    assert.deepEqual(readable(tail.filter((p) => p.kind !== 'junk')), [{ kind: 'heartbeat' }]);
  });

  it('waits for the rest of a packet split inside its first bytes', () => {
    const framer = new Dp401Framer(4096);
    assert.deepEqual(framer.push(b('SCA')), []);
    assert.deepEqual(framer.push(b('LE-0')), []);
    assert.deepEqual(readable(framer.push(b('9H'))), [{ kind: 'register', deviceId: 'SCALE-09' }]);
    assert.deepEqual(readable(framer.push(b('B'))), [{ kind: 'heartbeat' }]);
  });
});

describe('Dp401Framer: registration ids are SCALE- and two digits, never truncated', () => {
  const line = weighingBytes();

  it('refuses SCALE-100 whole instead of reading it as SCALE-10', () => {
    const f = new Dp401Framer(4096);
    assert.deepEqual(feed(f, [b('SCALE-100HB')]), [{ kind: 'bad-register', text: 'SCALE-100' }, { kind: 'heartbeat' }]);
  });

  it('waits for the next byte when SCALE-NN is followed by a digit at a chunk end', () => {
    const f = new Dp401Framer(4096);
    assert.deepEqual(feed(f, [b('SCALE-1'), b('00')]), []);
    assert.deepEqual(feed(f, [b('1HB')]), [{ kind: 'bad-register', text: 'SCALE-1001' }, { kind: 'heartbeat' }]);
  });

  it('still reads SCALE-01 glued to a weighing line (whose PLU starts with digits)', () => {
    const f = new Dp401Framer(4096);
    const packets = feed(f, [Buffer.concat([b('SCALE-01'), line, CRLF])]);
    assert.deepEqual(packets, [
      { kind: 'register', deviceId: 'SCALE-01' },
      { kind: 'line', text: line.toString('latin1') },
    ]);
  });

  it('registers SCALE-01 at once when nothing follows it', () => {
    const f = new Dp401Framer(4096);
    assert.deepEqual(feed(f, [b('SCALE-01')]), [{ kind: 'register', deviceId: 'SCALE-01' }]);
  });
});
