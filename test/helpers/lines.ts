import { encodeText } from '../../lib/dp401/weighing-line';
import { formatWeighingLine } from '../../sim/scale-simulator';

/** A weighing line in the scale's own bytes (Windows-1254), without terminator. */
export function weighingBytes(over: Partial<Parameters<typeof formatWeighingLine>[0]> = {}): Buffer {
  const line = formatWeighingLine({
    plu: '00007',
    when: new Date(2026, 0, 30, 10, 30, 0),
    name: 'KUZU PIRZOLA',
    barcode: '2000007015002',
    operator: 'AYSE',
    grossRaw: 12500,
    tareRaw: 2500,
    netRaw: 10000,
    ...over,
  });
  return encodeText(line, 'windows-1254');
}

export const CRLF = Buffer.from('\r\n');
export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
