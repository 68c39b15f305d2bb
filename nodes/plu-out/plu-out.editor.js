// plu-out's own part of its editor definition (the rest is made by the build: scripts/editor-forms.js).
window.CarniTrackEditor.own('plu-out', {
  validate: {
    filename: function (v, opt) {
      return /^[^\\/.][^\\/]*$/.test(String(v ?? '')) || this._('plu-out.validation.filename');
    },
    template: function (v, opt) {
      const bad = String(v ?? '')
        .split('~')
        .map((s) => s.trim())
        .filter(Boolean)
        .find((e) => !/^[A-Za-z][A-Za-z0-9_]{0,31}:\d{1,4}$/.test(e));
      return !bad || this._('plu-out.validation.template', { entry: bad });
    },
  },
});
