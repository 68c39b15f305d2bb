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
    lines.push(`${indent}    ${inputHtml(id, f)}${f.unit ? ` ${escape(f.unit)}` : ''}`);
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
    for (const k of ['value', 'number', 'choices', 'config', 'required']) if (f[k] !== undefined) s[k] = f[k];
    if (Object.keys(s).length) out[f.field] = s;
  }
  return out;
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
  return settings + html.trimEnd() + '\n' + template;
}

module.exports = { withForm, formRows, fieldSettings };
