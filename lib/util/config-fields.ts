/** `${NAME}` left as it is: Node-RED leaves a reference to an unset variable unreplaced. */
export const UNSET_ENV_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

/** A node setting's text; empty, or an unset `${ENV}` reference, means the default. */
export function fieldText(v: unknown, fallback: string): string {
  if (v === undefined || v === null) return fallback;
  const s = String(v).trim();
  return s === '' || UNSET_ENV_REFERENCE.test(s) ? fallback : s;
}

export interface FieldError {
  field: string;
  message: string;
}

/**
 * Reads numeric settings, collecting an error that names the field for each bad one.
 * Empty fields take their default.
 */
export class NumberFields<K extends string> {
  readonly errors: FieldError[] = [];
  constructor(
    protected readonly raw: object,
    private readonly defaults: Record<K, number>,
  ) {}

  read(field: K, min: number, max: number, integer = true): number {
    const s = fieldText((this.raw as Record<string, unknown>)[field], String(this.defaults[field]));
    const n = Number(s);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      this.errors.push({ field, message: `${field} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got "${s}"` });
      return this.defaults[field];
    }
    return n;
  }
}
