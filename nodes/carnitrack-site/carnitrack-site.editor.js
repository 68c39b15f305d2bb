// carnitrack-site's own part of its editor definition (the rest is made by the build: scripts/editor-forms.js).
window.CarniTrackEditor.own('carnitrack-site', {
  validate: { siteId: window.CarniTrackEditor.patternCheck(/^[A-Za-z0-9_.-]{1,64}$/, 'carnitrack-site.validation.siteId') },
  label: function () {
    return this.name || (this.siteId && !/^\$\{/.test(this.siteId) ? this.siteId : 'CarniTrack site');
  },
});
