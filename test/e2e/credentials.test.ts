import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NodeRedProcess } from '../helpers/node-red-process';
import { tempDirs } from '../helpers/temp';
import { waitFor } from '../helpers/node-red';
import { ReferenceCloud } from '../../sim/reference-cloud';

const projectRoot = path.resolve(__dirname, '..', '..', '..');
const KEY = 'sk-live-7d3b9e41c0ffee';

describe('the Cloud API key in a real Node-RED', function () {
  this.timeout(120_000);
  const dirs = tempDirs();
  let red: NodeRedProcess | null = null;
  let cloud: ReferenceCloud | null = null;

  after(async () => {
    await red?.stop();
    await cloud?.stop();
    dirs.cleanup();
  });

  it('is used to connect but appears in no flow file, export or log', async () => {
    cloud = new ReferenceCloud({ apiKeys: [KEY], path: '/edge' });
    await cloud.start();
    const userDir = dirs.make('carnitrack-cred-');
    red = await NodeRedProcess.start({
      userDir,
      settings: { nodesDir: [projectRoot], credentialSecret: 'test-only-secret', logging: { console: { level: 'debug' } } },
    });
    const flows = [
      { id: 't1', type: 'tab', label: 'cloud' },
      { id: 'site1', type: 'carnitrack-site', siteId: 'SITE01', siteName: 'Plant', databasePath: path.join(userDir, 'site.db'), durability: 'full' },
      { id: 'link1', type: 'cloud-link', z: 't1', site: 'site1', url: cloud.url, x: 200, y: 100, wires: [[], []], credentials: { apiKey: KEY } },
    ];
    const res = await fetch(`${red.url}/flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows }),
    });
    assert.equal(res.status, 200, await res.text());
    await waitFor(() => cloud!.received.some((m) => m.type === 'register'), 'the edge to register with the key', 20_000);

    const exported = JSON.stringify(await red.getJson('/flows'));
    assert.ok(exported.includes('cloud-link'));
    assert.ok(!exported.includes(KEY), 'not in GET /flows');
    const creds = (await red.getJson('/credentials/cloud-link/link1')) as Record<string, unknown>;
    assert.equal(creds.has_apiKey, true);
    assert.ok(!JSON.stringify(creds).includes(KEY), 'the editor only learns that a key is set');
    for (const f of fs.readdirSync(userDir)) {
      const file = path.join(userDir, f);
      if (fs.statSync(file).isFile()) assert.ok(!fs.readFileSync(file).includes(KEY), `not in ${f}`);
    }
    assert.ok(!red.output.includes(KEY), 'not in the log');
  });
});
