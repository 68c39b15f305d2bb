import { fieldText, NumberFields } from '../util/config-fields';
import { choiceValue, type Choice, type ChoiceSetting, type NodeSettings, type NumberKeys, type NumberSetting, type Setting } from './node-fields';

/**
 * Reads a node's configuration as the flow stores it (strings after Node-RED's `${VAR}`
 * substitution) by the node's settings in node-fields.ts: an empty field takes its default,
 * a number must be within its limits, a choice one of its choices. Each bad field adds an
 * error that names it (`errors`); the parser adds its own checks to the same list.
 */

type ChoiceKeys<S extends NodeSettings> = { [K in keyof S]: S[K] extends ChoiceSetting ? K : never }[keyof S] & string;
type ValueOf<C> = C extends { readonly value: infer V } ? V : C;
/** The values a choice setting can take, as a type. */
export type ChoiceOf<S extends Setting> = S extends { readonly choices: readonly (infer C)[] } ? ValueOf<C> : never;

function defaultsOf<S extends NodeSettings>(settings: S): Record<NumberKeys<S>, number> {
  const out: Record<string, number> = {};
  for (const [k, s] of Object.entries(settings)) if (s.kind === 'number') out[k] = s.default;
  return out as Record<NumberKeys<S>, number>;
}

function choicesText(choices: readonly Choice[]): string {
  const values = choices.map(choiceValue);
  return values.length === 2 ? values.map((v) => `"${v}"`).join(' or ') : `one of ${values.join(', ')}`;
}

export class SettingReader<S extends NodeSettings> extends NumberFields<NumberKeys<S>> {
  constructor(
    raw: object,
    private readonly settings: S,
  ) {
    super(raw, defaultsOf(settings));
  }

  /** A number setting, within its limits. */
  number(field: NumberKeys<S>): number {
    const s = this.settings[field] as NumberSetting;
    return this.read(field, s.min, s.max, s.integer === true);
  }

  /** A text setting; empty means `fallback`, which is the setting's default unless given. */
  text(field: keyof S & string, fallback?: string): string {
    const s = this.settings[field];
    return fieldText(this.field(field), fallback ?? String(s.default));
  }

  /** A choice setting: one of its choices, else an error naming them. */
  choice<K extends ChoiceKeys<S>>(field: K): ChoiceOf<S[K]> {
    const s = this.settings[field] as ChoiceSetting;
    const value = this.text(field);
    if (!s.choices.some((c) => choiceValue(c) === value)) {
      this.errors.push({ field, message: `${field} must be ${choicesText(s.choices)}, got "${value}"` });
      return s.default as ChoiceOf<S[K]>;
    }
    return value as ChoiceOf<S[K]>;
  }

  /** The field as stored in the flow. */
  field(field: keyof S & string): unknown {
    return (this.raw as Record<string, unknown>)[field];
  }
}
