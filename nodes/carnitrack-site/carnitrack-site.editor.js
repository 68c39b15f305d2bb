// carnitrack-site's own part of its editor definition (the rest is made by the build: scripts/editor-forms.js).
(function () {
  const ed = window.CarniTrackEditor;
  ed.own('carnitrack-site', {
    validate: {
      siteId: function (v, opt) {
        const s = String(v ?? '').trim();
        return s === '' || ed.isEnv(s) || /^[A-Za-z0-9_.-]{1,64}$/.test(s) || this._('carnitrack-site.validation.siteId');
      },
    },
    label: function () {
      return this.name || (this.siteId && !/^\$\{/.test(this.siteId) ? this.siteId : 'CarniTrack site');
    },
  });
})();
