// cloud-link's own part of its editor definition (the rest is made by the build: scripts/editor-forms.js).
window.CarniTrackEditor.own('cloud-link', {
  validate: { url: window.CarniTrackEditor.patternCheck(/^wss?:\/\/\S+$/, 'cloud-link.validation.url') },
});
