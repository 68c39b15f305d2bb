import Ajv, { type ValidateFunction } from 'ajv';
import { randomUUID } from 'node:crypto';
import { envelopeSchema, MESSAGES, type Direction, type Envelope } from './messages';

/**
 * Frames in and out of the Cloud link: size limit, JSON, envelope, known type, payload
 * schema. Decoding never throws: a bad frame comes back with the reason.
 */

export type Decoded = { ok: true; message: Envelope } | { ok: false; reason: string; type?: string };

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export class ProtocolCodec {
  private readonly ajv = new Ajv({ allErrors: false, strict: false });
  private readonly envelope: ValidateFunction;
  private readonly payloads = new Map<string, ValidateFunction>();

  constructor(readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.envelope = this.ajv.compile(envelopeSchema);
  }

  private validator(type: string): ValidateFunction | null {
    let v = this.payloads.get(type);
    if (!v) {
      const spec = MESSAGES[type];
      if (!spec) return null;
      v = this.ajv.compile(spec.schema);
      this.payloads.set(type, v);
    }
    return v;
  }

  /** Checks a message of `type` against its schema; returns the problem or null. */
  check(type: string, payload: unknown, direction: Exclude<Direction, 'both'>): string | null {
    const spec = MESSAGES[type];
    if (!spec) return `unknown message type "${type}"`;
    if (spec.direction !== 'both' && spec.direction !== direction)
      return `"${type}" is not a message ${direction === 'to-cloud' ? 'the Edge sends' : 'the Cloud sends'}`;
    const v = this.validator(type)!;
    if (!v(payload)) return `${type} payload ${this.ajv.errorsText(v.errors, { dataVar: 'payload' })}`;
    return null;
  }

  /** A frame received from the other side (`direction` is the way it travelled). */
  decode(frame: string | Buffer, direction: Exclude<Direction, 'both'>): Decoded {
    const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
    if (size > this.maxFrameBytes) return { ok: false, reason: `frame of ${size} bytes is over the ${this.maxFrameBytes}-byte limit` };
    let data: unknown;
    try {
      data = JSON.parse(typeof frame === 'string' ? frame : frame.toString('utf8'));
    } catch (err) {
      return { ok: false, reason: `not JSON: ${(err as Error).message}` };
    }
    if (!this.envelope(data)) return { ok: false, reason: `bad envelope: ${this.ajv.errorsText(this.envelope.errors, { dataVar: 'message' })}` };
    const message = data as Envelope;
    const problem = this.check(message.type, message.payload, direction);
    if (problem) return { ok: false, reason: problem, type: message.type };
    return { ok: true, message };
  }

  /** Wraps a payload in the envelope. Validates it when `validate` is set (tests, the reference Cloud). */
  encode(type: string, payload: Record<string, unknown>, edgeId: string | null, direction: Exclude<Direction, 'both'>, validate = false): string {
    if (validate) {
      const problem = this.check(type, payload, direction);
      if (problem) throw new Error(problem);
    }
    const env: Envelope = { type, payload, timestamp: new Date().toISOString(), messageId: randomUUID() };
    if (edgeId) env.edgeId = edgeId;
    return JSON.stringify(env);
  }
}
