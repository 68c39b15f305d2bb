import type { WeighingLine } from './weighing-line';
import { scaleTimestamp } from './scale-time';
import { WEIGHT_UNITS, type WeightUnit } from './settings';
import { uuidv7 } from '../util/uuidv7';

/** Flags raised on an event whose weights do not add up; the event is kept, never dropped. */
export interface WeightCheck {
  grossMismatch: boolean;
  overCapacity: boolean;
  detail: string;
}

/** The payload of a `msg.topic = "event"` message from dp401-in. */
export interface WeighingEvent {
  localEventId: string;
  deviceId: string;
  pluCode: string;
  productName: string;
  barcode: string;
  operator: string;
  weightGrams: number;
  tareGrams: number;
  grossGrams: number;
  scaleTimestamp: string | null;
  scaleDate: string;
  scaleTime: string;
  receivedAt: string;
  sourceIp: string;
  resent: boolean;
  code: string;
  flags: string[];
  company: string;
  raw: string;
  weightCheck?: WeightCheck;
}

export interface EventContext {
  deviceId: string;
  sourceIp: string;
  weightUnit: WeightUnit;
  maxCapacityGrams: number;
  timeZone: string;
  now: number;
}

/** Raw scale units to whole grams (0.1 g units round to the nearest gram). */
export function toGrams(raw: number, unit: WeightUnit): number {
  return Math.round(raw * WEIGHT_UNITS[unit]);
}

export function buildWeighingEvent(line: WeighingLine, ctx: EventContext): WeighingEvent {
  const weightGrams = toGrams(line.netRaw, ctx.weightUnit);
  const tareGrams = toGrams(line.tareRaw, ctx.weightUnit);
  const grossGrams = toGrams(line.grossRaw, ctx.weightUnit);
  const event: WeighingEvent = {
    localEventId: uuidv7(ctx.now),
    deviceId: ctx.deviceId,
    pluCode: line.pluCode,
    productName: line.productName,
    barcode: line.barcode,
    operator: line.operator,
    weightGrams,
    tareGrams,
    grossGrams,
    scaleTimestamp: scaleTimestamp(line.date, line.time, ctx.timeZone),
    scaleDate: line.date,
    scaleTime: line.time,
    receivedAt: new Date(ctx.now).toISOString(),
    sourceIp: ctx.sourceIp,
    resent: line.resent,
    code: line.code,
    flags: line.flags,
    company: line.company,
    raw: line.raw,
  };
  const problems: string[] = [];
  // Compared in raw units: the scale's own arithmetic, before any rounding to grams.
  const grossMismatch = line.grossRaw !== line.tareRaw + line.netRaw;
  if (grossMismatch) problems.push(`gross ${line.grossRaw} != tare ${line.tareRaw} + net ${line.netRaw} (raw units)`);
  const overCapacity = ctx.maxCapacityGrams > 0 && Math.max(grossGrams, weightGrams) > ctx.maxCapacityGrams;
  if (overCapacity) problems.push(`weight over capacity ${ctx.maxCapacityGrams} g`);
  if (problems.length) event.weightCheck = { grossMismatch, overCapacity, detail: problems.join('; ') };
  return event;
}
