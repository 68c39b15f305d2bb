import * as path from 'node:path';
import { fieldText, NumberFields, type FieldError } from '../util/config-fields';
import { isSupportedEncoding } from '../dp401/weighing-line';
import { parseTemplate, type FormatOptions } from './plu-format';

/** plu-out's settings: where the scale file goes and how it is written. */
export interface PluOutSettings {
  /** The file's absolute path (a relative output folder is taken from `baseDir`). */
  file: string;
  filename: string;
  debounceMs: number;
  format: FormatOptions;
}

/** `baseDir` is Node-RED's user directory; PLU_OUTPUT_DIR in `env` is the folder's fallback. */
export function parsePluOutSettings(
  raw: Record<string, unknown>,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): { settings: PluOutSettings | null; errors: FieldError[] } {
  const f = new NumberFields(raw, { debounceS: 2 });
  const debounceMs = f.read('debounceS', 0, 3600, false) * 1000;
  const errors = f.errors;
  const encoding = fieldText(raw.encoding, 'windows-1254');
  if (!isSupportedEncoding(encoding)) errors.push({ field: 'encoding', message: `encoding "${encoding}" is not known (try windows-1254)` });
  const template = parseTemplate(fieldText(raw.template, ''));
  if (template.error) errors.push({ field: 'template', message: `template: ${template.error}` });
  const filename = fieldText(raw.filename, 'plu.txt');
  if (/[\\/]/.test(filename) || filename.startsWith('.')) errors.push({ field: 'filename', message: `filename "${filename}" must be a plain file name` });
  const outputDir = path.resolve(baseDir, fieldText(raw.outputDir, env.PLU_OUTPUT_DIR || './generated'));
  if (errors.length) return { settings: null, errors };
  const format: FormatOptions = { encoding, truncateNames: raw.truncateNames === true || raw.truncateNames === 'true', template: template.fields };
  return { settings: { file: path.join(outputDir, filename), filename, debounceMs, format }, errors };
}
