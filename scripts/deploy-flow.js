#!/usr/bin/env node
// `npm run deploy-flow -- --url http://gateway:1880 --user engineer [--password …] [--flow file]`
// Deploys a flow file (default: the CarniTrack default flow) to a remote Node-RED through its
// Admin API, logging in with the same user as node-red-admin. The password may come from
// NODE_RED_PASSWORD instead of the command line.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const usage = `usage: deploy-flow --url URL [--user NAME --password PW] [--flow FILE] [--type full|flows|nodes]`;

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      flow: { type: 'string', default: path.resolve(__dirname, '..', 'flows', 'carnitrack-default.json') },
      type: { type: 'string', default: 'full' },
    },
  });
  if (!values.url) throw new Error(usage);
  const base = values.url.replace(/\/+$/, '');
  const flows = JSON.parse(fs.readFileSync(values.flow, 'utf8'));
  if (!Array.isArray(flows)) throw new Error(`${values.flow} is not a Node-RED flow (an array of nodes)`);
  const headers = { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': values.type };
  const password = values.password ?? process.env.NODE_RED_PASSWORD;
  if (values.user) {
    if (!password) throw new Error('--password or NODE_RED_PASSWORD is needed with --user');
    const res = await fetch(`${base}/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: values.user, password }),
    });
    if (!res.ok) throw new Error(`login to ${base} failed: HTTP ${res.status}`);
    headers.Authorization = `Bearer ${(await res.json()).access_token}`;
  }
  const res = await fetch(`${base}/flows`, { method: 'POST', headers, body: JSON.stringify(flows) });
  if (!res.ok) throw new Error(`deploy to ${base} failed: HTTP ${res.status} ${await res.text()}`);
  console.log(`deployed ${path.basename(values.flow)} (${flows.length} nodes) to ${base}`);
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
