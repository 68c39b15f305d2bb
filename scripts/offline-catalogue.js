// Preloaded into node-red-dev by scripts/validate.js. The Flow Library catalogue
// (catalogue.nodered.org) cannot be reached from these machines: its one request is answered
// with a stand-in catalogue instead, and every other request (the npm registry) goes out as
// usual. With network access, run `npx node-red-dev validate` directly for the real one.
'use strict';
const Module = require('node:module');

const CATALOGUE = 'https://catalogue.nodered.org/catalogue.json';
// Stand-in: a few real packages and their node types, none of them ours.
const STAND_IN = {
  name: 'stand-in Node-RED catalogue (offline)',
  updated_at: new Date().toISOString(),
  modules: [
    {
      id: 'node-red-node-sqlite',
      version: '1.1.0',
      url: 'https://flows.nodered.org/node/node-red-node-sqlite',
      types: ['sqlitedb', 'sqlite'],
      keywords: ['node-red'],
    },
    {
      id: 'node-red-contrib-home-assistant-websocket',
      version: '0.70.0',
      url: 'https://flows.nodered.org/node/node-red-contrib-home-assistant-websocket',
      types: ['server', 'api-call-service'],
      keywords: ['node-red'],
    },
    {
      id: 'node-red-dashboard',
      version: '3.6.5',
      url: 'https://flows.nodered.org/node/node-red-dashboard',
      types: ['ui_button', 'ui_text'],
      keywords: ['node-red'],
    },
  ],
};

const load = Module._load;
Module._load = function patchedLoad(request, parent, isMain) {
  const m = load.call(this, request, parent, isMain);
  if (request === 'axios' && m && !m.__offlineCatalogue) {
    const get = m.get.bind(m);
    m.get = (url, ...rest) => (url === CATALOGUE ? Promise.resolve({ status: 200, data: STAND_IN }) : get(url, ...rest));
    m.__offlineCatalogue = true;
  }
  return m;
};
