// Which wires of the flow open in the editor cross a node's status (its dot and text), as the
// editor draws them: for scripts/screenshot-flow.js and the Chromium test of the default flow.
// Runs in the page (playwright's page.evaluate); the wires are sampled every 2 px on screen.
'use strict';
/* global RED, document */ // the editor's, inside page.evaluate

/** In the page: [{ wire: 'from → to', status: 'node', text }] for each wire crossing a status. */
function statusCrossingsInPage() {
  const name = (d) => (d && (d.name || d.type)) || '?';
  const statuses = [];
  for (const g of document.querySelectorAll('#red-ui-workspace-chart .red-ui-flow-node-status-group')) {
    if (g.style.display === 'none') continue;
    const label = g.querySelector('.red-ui-flow-node-status-label');
    const icon = g.querySelector('.red-ui-flow-node-status');
    const text = label ? label.textContent.trim() : '';
    if (!text) continue;
    const a = label.getBoundingClientRect();
    const b = icon && icon.style.display !== 'none' ? icon.getBoundingClientRect() : a;
    const node = g.closest('.red-ui-flow-node-group');
    statuses.push({
      left: Math.min(a.left, b.left) - 1,
      right: a.right + 1,
      top: Math.min(a.top, b.top) - 1,
      bottom: Math.max(a.bottom, b.bottom) + 1,
      node: name(node && node.__data__),
      text,
    });
  }
  const out = [];
  for (const p of document.querySelectorAll('#red-ui-workspace-chart path.red-ui-flow-link-line')) {
    if (p.classList.contains('red-ui-flow-link-link')) continue; // a link node's virtual wire
    const d = p.__data__ || (p.parentNode && p.parentNode.__data__) || {};
    const m = p.getScreenCTM();
    const len = p.getTotalLength();
    const hit = new Set();
    for (let l = 0; l <= len; l += 2) {
      const q = p.getPointAtLength(l);
      const x = m.a * q.x + m.c * q.y + m.e;
      const y = m.b * q.x + m.d * q.y + m.f;
      for (const s of statuses) {
        if (!hit.has(s) && x >= s.left && x <= s.right && y >= s.top && y <= s.bottom) hit.add(s);
      }
    }
    for (const s of hit) out.push({ wire: `${name(d.source)} → ${name(d.target)}`, status: s.node, text: s.text });
  }
  return out;
}

/**
 * In the page: gives every node that shows a status (and every CarniTrack node, and every debug
 * node set to show one) the longest status text a node has (24 characters, the locales test's
 * bound), so a layout is checked for what the nodes can say, not only for what they say now.
 */
function longestStatusesInPage(text) {
  const ours = ['dp401-in', 'session-cache', 'event-store', 'cloud-link', 'plu-out'];
  RED.nodes.eachNode((n) => {
    if (n.z !== RED.workspaces.active()) return;
    if (!(n.status && n.status.text) && !ours.includes(n.type) && !(n.type === 'debug' && n.tostatus)) return;
    n.status = { fill: 'green', shape: 'dot', text };
    n.dirtyStatus = true;
    n.dirty = true;
    RED.view.redrawStatus(n);
  });
  RED.view.redraw(true);
}

/**
 * The crossings in a playwright page with a flow open in the editor; with `longest`, after
 * giving the nodes their longest status (the runtime's next status replaces it).
 */
async function statusCrossings(page, { longest = false } = {}) {
  if (longest) {
    await page.evaluate(longestStatusesInPage, LONGEST_STATUS);
    await page.waitForTimeout(100);
  }
  return page.evaluate(statusCrossingsInPage);
}

/** 24 characters, as wide as a status gets (dp401-in's "reading paused" in English). */
const LONGEST_STATUS = 'reading paused: 999 wait';

module.exports = { statusCrossings, LONGEST_STATUS };
