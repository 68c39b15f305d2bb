// cloud-link's own part of its editor definition (the rest is made by the build: scripts/editor-forms.js).
(function () {
  const ed = window.CarniTrackEditor;
  ed.own('cloud-link', {
    validate: {
      url: function (v, opt) {
        const s = String(v ?? '').trim();
        return s === '' || ed.isEnv(s) || /^wss?:\/\/\S+$/.test(s) || this._('cloud-link.validation.url');
      },
    },
  });
})();
