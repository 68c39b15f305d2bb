import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FlowNode, NodeModule } from 'node-red-node-test-helper';
import siteModule = require('../../nodes/carnitrack-site/carnitrack-site');
import cloudLinkModule = require('../../nodes/cloud-link/cloud-link');
import { helper, withCatalog, waitFor, collect } from '../helpers/node-red';
import { tempDirs } from '../helpers/temp';
import { ReferenceCloud } from '../../sim/reference-cloud';

// Node-RED's own TLS configuration node, as a plant engineer would pick it in cloud-link.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a core node's file, without types
const tlsModule = require('@node-red/nodes/core/network/05-tls.js') as NodeModule;
const modules = [tlsModule, withCatalog(siteModule as never, 'carnitrack-site'), withCatalog(cloudLinkModule as never, 'cloud-link')];

describe('cloud-link over wss:// with a tls-config node (real TLS, real WebSocket)', function () {
  this.timeout(60_000);
  const dirs = tempDirs();
  let dir: string;
  let certFile: string;
  let cloud: ReferenceCloud;

  before(async () => {
    dir = dirs.make('carnitrack-tls-');
    certFile = path.join(dir, 'cloud.crt');
    const keyFile = path.join(dir, 'cloud.key');
    // A self-signed certificate for 127.0.0.1, made for this test.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    cloud = new ReferenceCloud({ apiKeys: ['tls-key'], path: '/edge', tls: { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) } });
    await cloud.start();
    await helper.startServer();
  });
  afterEach(async () => {
    await helper.unload();
  });
  after(async () => {
    await helper.stopServer();
    await cloud.stop();
    dirs.cleanup();
  });

  function flow(ca: string): FlowNode[] {
    return [
      { id: 'tab', type: 'tab' },
      { id: 'site', type: 'carnitrack-site', siteId: 'TLS1', databasePath: path.join(dir, `site-${Date.now()}.db`) },
      { id: 'tls', type: 'tls-config', cert: '', key: '', ca, certname: '', keyname: '', caname: '', servername: '', verifyservercert: true },
      {
        id: 'link',
        type: 'cloud-link',
        z: 'tab',
        x: 100,
        y: 100,
        site: 'site',
        url: cloud.url,
        tls: 'tls',
        minBackoffS: 0.05,
        maxBackoffS: 0.2,
        wires: [[], ['status']],
      },
      { id: 'status', type: 'helper', z: 'tab', x: 300, y: 100 },
    ];
  }

  it('connects when the tls-config node trusts the Cloud certificate', async () => {
    assert.match(cloud.url, /^wss:\/\//);
    await helper.load(modules, flow(certFile), { link: { apiKey: 'tls-key' } });
    const statuses = collect(helper.getNode('status'));
    await waitFor(() => cloud.received.some((m) => m.type === 'register' && m.payload.siteId === 'TLS1'), 'register over wss');
    await waitFor(() => statuses.some((m) => (m.payload as { connected: boolean }).connected), 'a connected status');
  });

  it('refuses a certificate it cannot verify, and says why', async () => {
    const before = cloud.connectionsAccepted;
    await helper.load(modules, flow(''), { link: { apiKey: 'tls-key' } });
    const statuses = collect(helper.getNode('status'));
    await waitFor(() => statuses.some((m) => /self-signed certificate/.test(String((m.payload as { reason: string | null }).reason))), 'the refusal reason');
    assert.equal(cloud.connectionsAccepted, before, 'no link was made');
  });
});
