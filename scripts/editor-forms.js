// The edit dialogs, made at build time from each node's <type>.form.json, so that the six
// dialogs share one piece of markup (Node-RED's form-row: label, icon, input, unit) instead of
// each writing it out again. Node-RED fills the inputs from the node's properties before
// oneditprepare runs, so the rows must be in the template itself, not added later.
//
// A form file: { "prefix": "node-input" | "node-config-input", "rows": [[field, ...], ...] },
// one array a row; a field: { "field", "icon"?, "input"?: "text" | "password" | "checkbox" |
// "textarea", "placeholder"?, "placeholderKey"?, "width"?, "unit"?, "rows"? }. The label is
// the locale's "<type>.label.<field>". A field may also carry its default ("value"), its
// limits ("number": [min, max, whole numbers only?]), its drop-down options ("choices"), or
// the config node type it selects ("config", with "required"). Those go to the editor as
// window.CarniTrackEditor.forms[type], where CarniTrackEditor.field() (plugins/carnitrack-
// sidebar) makes the field's default and validator for the node's definition.
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

function inputHtml(id, f) {
  const attrs = [`id="${id}"`];
  if (f.placeholder !== undefined) attrs.push(`placeholder="${escape(f.placeholder)}"`);
  if (f.placeholderKey) attrs.push(`data-i18n="[placeholder]${escape(f.placeholderKey)}"`);
  const width = f.input === 'checkbox' ? 'auto' : f.width;
  if (width) attrs.push(`style="width: ${width};"`);
  if (f.input === 'textarea') return `<textarea ${attrs.join(' ')} rows="${f.rows ?? 3}"></textarea>`;
  return `<input type="${f.input ?? 'text'}" ${attrs.join(' ')}>`;
}

function rowHtml(type, prefix, fields, indent) {
  const lines = [`${indent}<div class="form-row">`];
  fields.forEach((f, i) => {
    if (!f.field) throw new Error(`${type}: a form field without "field"`);
    const id = `${prefix}-${f.field}`;
    const labelStyle = [];
    if (i > 0) labelStyle.push('margin-left: 10px; width: auto;');
    if (f.input === 'textarea') labelStyle.push('vertical-align: top;');
    const icon = f.icon ? `<i class="fa fa-${f.icon}"></i> ` : '';
    const style = labelStyle.length ? ` style="${labelStyle.join(' ')}"` : '';
    lines.push(`${indent}    <label for="${id}"${style}>${icon}<span data-i18n="${type}.label.${f.field}"></span></label>`);
    lines.push(`${indent}    ${inputHtml(id, f)}${f.unit ? unitHtml(type, f.unit) : ''}`);
  });
  lines.push(`${indent}</div>`);
  return lines.join('\n');
}

/** The form rows of `form` (a parsed form file) for node `type`. */
function formRows(type, form, indent = '    ') {
  const prefix = form.prefix ?? 'node-input';
  if (!Array.isArray(form.rows)) throw new Error(`${type}: the form file has no "rows" array`);
  return form.rows.map((row) => rowHtml(type, prefix, Array.isArray(row) ? row : [row], indent)).join('\n');
}

/** Each field's default, limits and choices, for the editor's node definition. */
function fieldSettings(form) {
  const out = {};
  for (const f of form.rows.flat()) {
    const s = {};
    for (const k of ['value', 'number', 'choices', 'config', 'required', 'unit']) if (f[k] !== undefined) s[k] = f[k];
    if (Object.keys(s).length) out[f.field] = s;
  }
  return out;
}

const DEFINE = /^([ \t]*)window\.CarniTrackEditor\.define\('([\w-]+)', /m;

/**
 * The node's RED.nodes.registerType call in place of `window.CarniTrackEditor.define(type,
 * own)`: category, colour, icon, inputs, outputs and the defaults' names written out inline
 * (where the Flow Library and node-red-dev read them), each field's default from the form file
 * (CarniTrackEditor.field) unless `own.defaults` has it, `node.credentials` from the form file,
 * and `own.label` over the shared label.
 */
function withDefinition(type, html, form) {
  const m = DEFINE.exec(html);
  if (!m) return html;
  if (m[2] !== type) throw new Error(`${type}: the editor file defines ${m[2]}`);
  const indent = m[1];
  const start = m.index + m[0].length;
  // `own` ends at "});" on its own line at the call's indent, or at once for "{});".
  let end;
  let after;
  if (html.startsWith('{});', start)) {
    end = start + 2;
    after = start + 4;
  } else {
    const close = new RegExp(`^${indent}\\}\\);[ \\t]*$`, 'm');
    const rest = close.exec(html.slice(start));
    if (!rest) throw new Error(`${type}: window.CarniTrackEditor.define(...) is not closed by "});" at its indent`);
    end = start + rest.index + indent.length + 1;
    after = start + rest.index + rest[0].length;
  }
  const own = html.slice(start, end);
  const node = form.node ?? {};
  if (!Array.isArray(node.outputs)) throw new Error(`${type}: the form file has no "node": { "outputs": [...] }`);
  // The keys of own.defaults: the lines at the indent of its entries.
  const ownKeys = new Set([...own.matchAll(new RegExp(`^${indent}        (\\w+): `, 'gm'))].map((x) => x[1]));
  const settings = fieldSettings(form);
  const credentials = Object.keys(node.credentials ?? {});
  const defaults = [`${indent}        name: { value: '' }`];
  for (const f of form.rows.flat()) {
    if (f.field === 'name' || credentials.includes(f.field)) continue;
    if (ownKeys.has(f.field)) defaults.push(`${indent}        ${f.field}: own.defaults.${f.field}`);
    else if (settings[f.field]) defaults.push(`${indent}        ${f.field}: ct.field('${f.field}')`);
    else throw new Error(`${type}: field ${f.field} has no default: give it "value" in the form file or a default in the editor file`);
  }
  const q = (v) => JSON.stringify(v).replace(/"/g, "'");
  const lines = [
    `${indent}const own = ${own};`,
    `${indent}const ct = window.CarniTrackEditor.parts('${type}', ${q(node.paletteLabel)}, ${q(node.outputs)}${node.inputLabel ? `, ${q(node.inputLabel)}` : ''});`,
    `${indent}RED.nodes.registerType('${type}', {`,
    `${indent}    category: 'CarniTrack',`,
    `${indent}    color: ${q(node.color)},`,
    `${indent}    icon: '${type}.svg',`,
    `${indent}    inputs: 1,`,
    `${indent}    outputs: ${node.outputs.length},`,
    `${indent}    paletteLabel: ${q(node.paletteLabel)},`,
    `${indent}    defaults: {`,
    defaults.join(',\n'),
    `${indent}    },`,
  ];
  if (credentials.length) lines.push(`${indent}    credentials: ${JSON.stringify(node.credentials)},`);
  lines.push(
    `${indent}    label: own.label || ct.label,`,
    `${indent}    labelStyle: ct.labelStyle,`,
    `${indent}    inputLabels: ct.inputLabels,`,
    `${indent}    outputLabels: ct.outputLabels,`,
    `${indent}    oneditprepare: ct.oneditprepare`,
    `${indent}});`,
  );
  // In a function of its own: the constants of one node's script must not meet another's.
  const body = lines.map((l) => `    ${l}`).join('\n');
  return `${html.slice(0, m.index)}${indent}(function () {\n${body}\n${indent}})();${html.slice(after)}`;
}

/**
 * The editor file with the edit dialog's template added: the form rows of `form` (the parsed
 * <type>.form.json) in Node-RED's `text/html` template, and the fields' settings in a script
 * before everything else (the node's definition reads them).
 */
function withForm(type, html, form) {
  const rows = formRows(type, form, '    ');
  const settings = `<script type="text/javascript">\n    window.CarniTrackEditor.forms[${JSON.stringify(type)}] = ${JSON.stringify(fieldSettings(form))};\n</script>\n\n`;
  const template = `\n<script type="text/html" data-template-name="${type}">\n${rows}\n</script>\n`;
  return settings + withDefinition(type, html, form).trimEnd() + '\n' + template;
}

module.exports = { withForm };
