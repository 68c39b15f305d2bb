// Each node's editor file (<type>.html), made at build time from three sources, none of them
// cut or spliced: the node's settings (default, limits, choices) from lib/settings/node-fields.ts,
// the one source the runtime parsers read too; its dialog's layout from <type>.form.json; and
// what is the node's own in the editor (checks that need more than a range, its label) from
// <type>.editor.js, a plain browser script placed as it is, whole, before the definition.
//
// The six dialogs share one piece of markup (Node-RED's form-row: label, icon, input, unit)
// instead of each writing it out again. Node-RED fills the inputs from the node's properties
// before oneditprepare runs, so the rows must be in the template itself, not added later.
//
// A form file: { "node": {...}, "prefix": "node-input" | "node-config-input", "rows":
// [[field, ...], ...] }, one array a row; a field: { "field", "icon"?, "input"?: "text" |
// "password" | "checkbox" | "textarea", "placeholder"? (true: the setting's default),
// "placeholderKey"?, "width"?, "unit"?,
// "rows"?, "config"?, "required"? } ("config": the config node type it selects). The label is
// the locale's "<type>.label.<field>". "node" says what the palette shows: { "color",
// "paletteLabel", "outputs": [label keys], "inputLabel"?, "credentials"? }, or { "category":
// "config" } for a config node. Every field but `name`, a credential or a config node's must
// be a setting of the node, and every setting a field.
'use strict';

const escape = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

// A field's unit is a word of the CarniTrack tab's catalogue ("unit.s" is "s" in English, "sn" in
// Turkish), so the dialogs and the tab say units alike in the editor's language. The key names the
// tab's namespace; Node-RED leaves a key with a namespace as it is when it translates a dialog.
const UNIT_NAMESPACE = `${require('../package.json').name}/carnitrack-sidebar:carnitrack-sidebar.unit.`;
const UNITS = require('../locales/en-US/carnitrack-sidebar.json')['carnitrack-sidebar'].unit;

function unitHtml(type, unit) {
  if (!Object.prototype.hasOwnProperty.call(UNITS, unit)) {
    throw new Error(`${type}: unit "${unit}" is not in locales/*/carnitrack-sidebar.json "unit" (add it in every language)`);
  }
  return ` <span class="carnitrack-unit" data-i18n="${escape(UNIT_NAMESPACE + unit)}">${escape(unit)}</span>`;
}

function inputHtml(type, id, f, settings) {
  const attrs = [`id="${id}"`];
  if (f.placeholder === true) {
    // The setting's default: what an empty field means.
    if (!settings[f.field]) throw new Error(`${type}: field ${f.field} has "placeholder": true but no setting to take it from`);
    attrs.push(`placeholder="${escape(settings[f.field].default)}"`);
  } else if (f.placeholder !== undefined) attrs.push(`placeholder="${escape(f.placeholder)}"`);
  if (f.placeholderKey) attrs.push(`data-i18n="[placeholder]${escape(f.placeholderKey)}"`);
  const width = f.input === 'checkbox' ? 'auto' : f.width;
  if (width) attrs.push(`style="width: ${width};"`);
  if (f.input === 'textarea') return `<textarea ${attrs.join(' ')} rows="${f.rows ?? 3}"></textarea>`;
  return `<input type="${f.input ?? 'text'}" ${attrs.join(' ')}>`;
}

function rowHtml(type, prefix, fields, settings) {
  const lines = ['    <div class="form-row">'];
  fields.forEach((f, i) => {
    if (!f.field) throw new Error(`${type}: a form field without "field"`);
    const id = `${prefix}-${f.field}`;
    const labelStyle = [];
    if (i > 0) labelStyle.push('margin-left: 10px; width: auto;');
    if (f.input === 'textarea') labelStyle.push('vertical-align: top;');
    const icon = f.icon ? `<i class="fa fa-${f.icon}"></i> ` : '';
    const style = labelStyle.length ? ` style="${labelStyle.join(' ')}"` : '';
    lines.push(`        <label for="${id}"${style}>${icon}<span data-i18n="${type}.label.${f.field}"></span></label>`);
    lines.push(`        ${inputHtml(type, id, f, settings)}${f.unit ? unitHtml(type, f.unit) : ''}`);
  });
  lines.push('    </div>');
  return lines.join('\n');
}

/** The form rows of `form` (a parsed form file) for node `type`, whose settings are `settings`. */
function formRows(type, form, settings) {
  const prefix = form.prefix ?? 'node-input';
  if (!Array.isArray(form.rows)) throw new Error(`${type}: the form file has no "rows" array`);
  return form.rows.map((row) => rowHtml(type, prefix, Array.isArray(row) ? row : [row], settings)).join('\n');
}

/**
 * What the editor needs of each field, by name: the setting's initial value (`value`), its
 * run-time `default` where that differs, its limits (`number`: [min, max, whole numbers only?]),
 * choices and `required`, and from the form file its unit and config node type. These go to
 * the editor as window.CarniTrackEditor.forms[type], where CarniTrackEditor.field() (plugins/
 * carnitrack-sidebar) makes each field's default and validator for the node's definition.
 */
function fieldSettings(type, form, settings) {
  const credentials = Object.keys((form.node && form.node.credentials) || {});
  const out = {};
  const seen = new Set();
  for (const f of form.rows.flat()) {
    for (const k of ['value', 'number', 'choices']) {
      if (f[k] !== undefined) throw new Error(`${type}.form.json: ${f.field} has "${k}": defaults, limits and choices are in lib/settings/node-fields.ts`);
    }
    const s = {};
    const setting = settings[f.field];
    if (setting) {
      seen.add(f.field);
      s.value = setting.newNode ?? setting.default;
      if (setting.newNode !== undefined) s.default = setting.default;
      if (setting.kind === 'number') s.number = setting.integer ? [setting.min, setting.max, true] : [setting.min, setting.max];
      if (setting.kind === 'choice') s.choices = setting.choices;
      if (setting.required) s.required = true;
    } else if (f.field !== 'name' && !f.config && !credentials.includes(f.field)) {
      throw new Error(`${type}: field ${f.field} is no setting of the node in lib/settings/node-fields.ts (nor a credential or a config node)`);
    }
    for (const k of ['config', 'required', 'unit']) if (f[k] !== undefined) s[k] = f[k];
    if (Object.keys(s).length) out[f.field] = s;
  }
  const missing = Object.keys(settings).filter((k) => !seen.has(k));
  if (missing.length) throw new Error(`${type}: setting(s) ${missing.join(', ')} not in the form file's rows`);
  return out;
}

const q = (v) => JSON.stringify(v).replace(/"/g, "'");

/**
 * The node's RED.nodes.registerType call, written out inline (category, colour, icon, inputs,
 * outputs, the defaults' names) because that is what the Flow Library and node-red-dev
 * validate read; every field's default and validator come from CarniTrackEditor.field(), its
 * label, checks and dialog from CarniTrackEditor.parts(), which add what the node's own
 * editor script gave (CarniTrackEditor.own). In a function of its own: the constants of one
 * node's script must not meet another's.
 */
function definition(type, form, fields) {
  const node = form.node ?? {};
  const config = node.category === 'config';
  if (!config && !Array.isArray(node.outputs)) throw new Error(`${type}: the form file has no "node": { "outputs": [...] }`);
  const credentials = Object.keys(node.credentials ?? {});
  const defaults = ["name: { value: '' }"];
  for (const f of form.rows.flat()) {
    if (f.field === 'name' || credentials.includes(f.field)) continue;
    defaults.push(`${f.field}: ct.field('${f.field}')`);
  }
  const parts = { prefix: form.prefix ?? 'node-input', fallback: node.paletteLabel ?? type };
  if (!config) Object.assign(parts, { outputs: node.outputs }, node.inputLabel ? { inputLabel: node.inputLabel } : {});
  const props = config
    ? ["category: 'config'"]
    : [
        "category: 'CarniTrack'",
        `color: ${q(node.color)}`,
        `icon: '${type}.svg'`,
        'inputs: 1',
        `outputs: ${node.outputs.length}`,
        `paletteLabel: ${q(node.paletteLabel)}`,
      ];
  props.push(`defaults: {\n${defaults.map((d) => `                ${d}`).join(',\n')}\n            }`);
  if (credentials.length) props.push(`credentials: ${JSON.stringify(node.credentials)}`);
  props.push('label: ct.label');
  if (!config) props.push('labelStyle: ct.labelStyle', 'inputLabels: ct.inputLabels', 'outputLabels: ct.outputLabels');
  props.push('oneditprepare: ct.oneditprepare');
  return [
    '<script type="text/javascript">',
    '    (function () {',
    `        window.CarniTrackEditor.forms[${JSON.stringify(type)}] = ${JSON.stringify(fields)};`,
    `        const ct = window.CarniTrackEditor.parts('${type}', ${q(parts)});`,
    `        RED.nodes.registerType('${type}', {`,
    props.map((p) => `            ${p}`).join(',\n'),
    '        });',
    '    })();',
    '</script>',
  ].join('\n');
}

/**
 * The editor file of node `type`: its own editor script (`own`, the text of <type>.editor.js,
 * or null), then its definition from `form` (the parsed <type>.form.json) and `settings` (its
 * entry of lib/settings/node-fields.ts), then the edit dialog's template.
 */
function editorHtml(type, form, settings, own) {
  const fields = fieldSettings(type, form, settings);
  const parts = [];
  if (own !== null) parts.push(`<script type="text/javascript">\n${own.trimEnd()}\n</script>`);
  parts.push(definition(type, form, fields));
  parts.push(`<script type="text/html" data-template-name="${type}">\n${formRows(type, form, settings)}\n</script>`);
  return parts.join('\n\n') + '\n';
}

module.exports = { editorHtml, fieldSettings };
