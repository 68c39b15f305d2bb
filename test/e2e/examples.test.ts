import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { NodeRedProcess } from '../helpers/node-red-process';
import { freePort, waitFor, ScaleClient } from '../helpers/node-red';
import { tempDirs } from '../helpers/temp';
import { weighingBytes, CRLF } from '../helpers/lines';
import { ReferenceCloud } from '../../sim/reference-cloud';

/**
 * The small examples (flows/*.json, shipped as examples/), each placed next to the default flow
 * as Import > Examples would, in a real Node-RED with the reference Cloud; their inject nodes
 * are pressed through the admin API, as the editor's buttons do.
 */

const projectRoot = path.resolve(__dirname, '..', '..', '..');
type FlowNode = Record<string, unknown> & { id: string; type: string };
const flow = (name: string): FlowNode[] => JSON.parse(fs.readFileSync(path.join(projectRoot, 'flows', name), 'utf8')) as FlowNode[];

describe('the small examples next to the default flow (real Node-RED, reference Cloud)', function () {
  this.timeout(120_000);
  const dirs = tempDirs();
  let red: NodeRedProcess;
  let cloud: ReferenceCloud;
  let userDir: string;
  let tcpPort: number;
  let standalonePort: number;
  const byName = new Map<string, FlowNode>();

  const press = async (injectName: string): Promise<void> => {
    const res = await fetch(`${red.url}/inject/${byName.get(injectName)!.id}`, { method: 'POST' });
    assert.equal(res.status, 200, `pressing "${injectName}"`);
  };
  const db = (): Database.Database => new Database(path.join(userDir, 'data', 'carnitrack.db'), { readonly: true });
  const rowsOf = (device: string): Array<{ sync_state: string }> => {
    const d = db();
    try {
      return d.prepare('SELECT sync_state FROM events WHERE device_id = ?').all(device) as Array<{ sync_state: string }>;
    } finally {
      d.close();
    }
  };

  before(async () => {
    userDir = dirs.make('carnitrack-examples-');
    [tcpPort, standalonePort] = [await freePort(), await freePort()];
    cloud = new ReferenceCloud({ apiKeys: ['examples-key'], path: '/edge' });
    await cloud.start();
    const main = flow('carnitrack-default.json');
    const tab = main.find((n) => n.type === 'tab')!.id;
    const examples = ['standalone-scale.json', 'plu-update.json', 'backup.json', 'retry-failed.json'].flatMap(flow);
    for (const n of examples) {
      n.z = tab; // Import puts an example on the open tab
      if (n.name) byName.set(String(n.name), n);
    }
    // The one change to an example: its fixed port 3002 becomes a free one for this test.
    byName.get('test scale')!.port = String(standalonePort);
    fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify([...main, ...examples]));
    red = await NodeRedProcess.start({
      userDir,
      settings: { nodesDir: [projectRoot], credentialSecret: 'examples-test' },
      env: {
        TCP_PORT: String(tcpPort),
        EDGE_SITE_ID: 'EXAMPLES',
        EDGE_SITE_NAME: 'Examples',
        DATABASE_PATH: './data/carnitrack.db',
        CLOUD_WS_URL: cloud.url,
        CLOUD_API_KEY: 'examples-key',
        PLU_OUTPUT_DIR: './generated',
        DP401_MAX_CONNECTIONS: '8',
      },
    });
    await waitFor(() => cloud.connections === 1, 'the Cloud link', 30_000);
  });

  after(async () => {
    await red?.stop();
    await cloud?.stop();
    dirs.cleanup();
  });

  it('standalone scale: OK on receipt, nothing stored', async () => {
    await waitFor(() => new RegExp(`listening for DP-401 scales on 0\\.0\\.0\\.0:${standalonePort}`).test(red.output), 'the standalone scale port', 15_000);
    const scale = await ScaleClient.connect(standalonePort);
    scale.write(Buffer.concat([Buffer.from('SCALE-31'), weighingBytes(), CRLF]));
    await scale.waitForOks(1, 10_000);
    scale.destroy();
    assert.deepEqual(rowsOf('SCALE-31'), []);
  });

  it('PLU update: the item reaches the catalogue and the scale file', async () => {
    await press('PLU 42: KUZU KOL');
    const file = path.join(userDir, 'generated', 'plu.txt');
    await waitFor(() => fs.existsSync(file) && /KUZU KOL/.test(fs.readFileSync(file, 'latin1')), 'plu.txt with PLU 42', 15_000);
  });

  it('nightly backup: a dated copy of the site database in the user directory', async () => {
    await press('02:30 nightly');
    const file = path.join(userDir, 'backups', `carnitrack-${new Date().toISOString().slice(0, 10)}.db`);
    await waitFor(() => fs.existsSync(file), `the backup at ${file}`, 15_000);
    const copy = new Database(file, { readonly: true });
    try {
      assert.equal((copy.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'events'").get() as { n: number }).n, 1);
    } finally {
      copy.close();
    }
  });

  it('retry rejected events: what the Cloud refused is sent again and accepted', async () => {
    cloud.faults.reject = { deviceId: 'SCALE-32', reason: 'not registered' };
    const scale = await ScaleClient.connect(tcpPort);
    scale.write(Buffer.concat([Buffer.from('SCALE-32'), weighingBytes(), CRLF]));
    await scale.waitForOks(1, 15_000);
    scale.destroy();
    await waitFor(() => rowsOf('SCALE-32')[0]?.sync_state === 'failed', 'the rejected weighing', 15_000);
    cloud.faults.reject = null;
    await press('retry rejected events');
    await waitFor(() => rowsOf('SCALE-32')[0]?.sync_state === 'synced', 'the retried weighing to be accepted', 15_000);
  });
});
