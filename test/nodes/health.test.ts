import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { FlowNode } from 'node-red-node-test-helper';
import dp401InModule = require('../../nodes/dp401-in/dp401-in');
import siteModule = require('../../nodes/carnitrack-site/carnitrack-site');
import eventStoreModule = require('../../nodes/event-store/event-store');
import { helper, withCatalog, freePort, waitFor } from '../helpers/node-red';
import { tempDirs } from '../helpers/temp';

const modules = [
  withCatalog(dp401InModule as never, 'dp401-in'),
  withCatalog(siteModule as never, 'carnitrack-site'),
  withCatalog(eventStoreModule as never, 'event-store'),
];

interface Health {
  status: number;
  body: { status: string; problems: string[]; warnings: string[] };
}

/** GET /carnitrack/health on Node-RED's admin app (the test helper's supertest; its typings here leave it out). */
function health(): Promise<Health> {
  return (helper as unknown as { request(): { get(r: string): Promise<Health> } }).request().get('/carnitrack/health');
}

/**
 * /carnitrack/health (the Docker HEALTHCHECK's route) answers non-2xx whenever the tab shows an
 * error-level problem, with the tab's words naming the node: real Node-RED nodes, a real port
 * and a real SQLite file.
 */
describe('GET /carnitrack/health tells the same truth as the tab', function () {
  this.timeout(60_000);
  const dirs = tempDirs();
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    dirs.cleanup();
  });

  async function deploy(store: Record<string, unknown>): Promise<void> {
    const port = await freePort();
    const flow: FlowNode[] = [
      { id: 'site', type: 'carnitrack-site', siteId: 'SITE01', databasePath: path.join(dirs.make(), 'carnitrack.db'), durability: 'full' },
      {
        id: 'in',
        type: 'dp401-in',
        name: 'DP-401 scales',
        port: String(port),
        bindAddress: '127.0.0.1',
        ackMode: 'store',
        timeZone: 'Europe/Istanbul',
        wires: [['store'], []],
      },
      { id: 'store', type: 'event-store', name: 'event store', site: 'site', statusIntervalS: 3600, wires: [[], ['in'], []], ...store },
    ];
    await helper.load(modules, flow);
    await waitFor(() => helper.getNode('in') !== null, 'the nodes');
  }

  it('200 ok when all is well', async () => {
    await deploy({});
    await waitFor(async () => (await health()).status === 200, 'healthy');
    const h = await health();
    assert.equal(h.body.status, 'ok');
    assert.deepEqual(h.body.problems, []);
  });

  it('503 naming the store when its free-disk alarm holds (the disk is "full")', async () => {
    await deploy({ minFreeDiskMB: 10_000_000 }); // more than this disk has: the alarm holds
    const h = await health();
    assert.equal(h.status, 503);
    assert.equal(h.body.status, 'unhealthy');
    assert.ok(
      h.body.problems.some((p) => /^event store: disk almost full: \d+ MiB free, alarm under 10000000 MiB$/.test(p)),
      h.body.problems.join('\n'),
    );
  });

  it('503 naming the store when it could not start', async () => {
    await deploy({ window: 'lots' });
    const h = await health();
    assert.equal(h.status, 503);
    assert.ok(
      h.body.problems.some((p) => /^event store: not running: .*window/.test(p)),
      h.body.problems.join('\n'),
    );
  });
});
