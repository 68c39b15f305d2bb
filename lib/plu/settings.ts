import * as path from 'node:path';
import type { FieldError } from '../util/config-fields';
import { PLU_OUT_SETTINGS } from '../settings/node-fields';
import { SettingReader } from '../settings/setting-reader';
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
  const f = new SettingReader(raw, PLU_OUT_SETTINGS);
  const debounceMs = f.number('debounceS') * 1000;
  const errors = f.errors;
  const encoding = f.text('encoding');
  if (!isSupportedEncoding(encoding)) errors.push({ field: 'encoding', message: `encoding "${encoding}" is not known (try windows-1254)` });
  const template = parseTemplate(f.text('template'));
  if (template.error) errors.push({ field: 'template', message: `template: ${template.error}` });
  const filename = f.text('filename');
  if (/[\\/]/.test(filename) || filename.startsWith('.')) errors.push({ field: 'filename', message: `filename "${filename}" must be a plain file name` });
  const outputDir = path.resolve(baseDir, f.text('outputDir', env.PLU_OUTPUT_DIR || PLU_OUT_SETTINGS.outputDir.default));
  if (errors.length) return { settings: null, errors };
  const format: FormatOptions = { encoding, truncateNames: raw.truncateNames === true || raw.truncateNames === 'true', template: template.fields };
  return { settings: { file: path.join(outputDir, filename), filename, debounceMs, format }, errors };
}
