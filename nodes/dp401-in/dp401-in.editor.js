// dp401-in's own part of its editor definition (the rest is made by the build: scripts/editor-forms.js):
// the checks that need more than a range, and its label.
(function () {
  const ed = window.CarniTrackEditor;
  const isEnv = ed.isEnv;
  const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
  const looksLikeIp = (s) => ipv4.test(s) || (s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s));
  const timeoutInRange = ed.rangeCheck('dp401-in', 'timeoutAfterS');
  ed.own('dp401-in', {
    validate: {
      bindAddress: function (v, opt) {
        const s = String(v ?? '').trim();
        return s === '' || isEnv(s) || s === 'localhost' || looksLikeIp(s) || this._('dp401-in.validation.ip', { field: this._('dp401-in.label.bindAddress') });
      },
      timeZone: function (v, opt) {
        const s = String(v ?? '').trim();
        if (s === '' || isEnv(s)) return true;
        try {
          new Intl.DateTimeFormat('en', { timeZone: s });
          return true;
        } catch (e) {
          return this._('dp401-in.validation.timezone', { zone: s });
        }
      },
      timeoutAfterS: function (v, opt) {
        const r = timeoutInRange.call(this, v, opt);
        if (r !== true) return r;
        const stale = Number($('#node-input-staleAfterS').length ? $('#node-input-staleAfterS').val() : this.staleAfterS);
        if (String(v).trim() !== '' && !isEnv(v) && Number.isFinite(stale) && Number(v) <= stale) {
          return this._('dp401-in.validation.timeout');
        }
        return true;
      },
      allowedSources: function (v, opt) {
        const bad = String(v ?? '')
          .split(/[\s,;]+/)
          .filter(Boolean)
          .find((e) => !looksLikeIp(e.split('/')[0]));
        return !bad || isEnv(v) || this._('dp401-in.validation.cidr', { entry: bad });
      },
      addressMap: function (v, opt) {
        const bad = String(v ?? '')
          .split(/[\n,;]+/)
          .map((s) => s.trim())
          .filter(Boolean)
          .find((e) => !/^[^=\s]+\s*=\s*[A-Za-z0-9_.-]{1,64}$/.test(e) || !looksLikeIp(e.split('=')[0].trim()));
        return !bad || this._('dp401-in.validation.addressMap', { entry: bad });
      },
    },
    label: function () {
      return this.name || 'dp401 in :' + (isEnv(this.port) ? this.port : this.port || ed.defaultOf('dp401-in', 'port'));
    },
  });
})();
