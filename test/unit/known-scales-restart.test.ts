import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ScaleGateway } from '../../lib/dp401/scale-gateway';
import { parseDp401Settings } from '../../lib/dp401/settings';
import { ManualClock } from '../helpers/clock';
import { freePort, waitFor, ScaleClient } from '../helpers/node-red';
import { tempDirs } from '../helpers/temp';

/**
 * The known scales across a restart of the gateway: a real gateway on a real socket with its
 * file in a temp directory, and a hand-driven clock instead of minutes of waiting.
 */
describe('known scales across a restart (real sockets, a real file, injected clock)', () => {
  const dirs = tempDirs();
  const gateways: ScaleGateway[] = [];
  const clients: ScaleClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
    dirs.cleanup();
  });

  async function gateway(port: number, file: string, clock: ManualClock): Promise<ScaleGateway> {
    const { settings } = parseDp401Settings({ port: String(port), bindAddress: '127.0.0.1', timeZone: 'Europe/Istanbul', ackMode: 'receipt' });
    const g = new ScaleGateway(settings!, { clock, healthIntervalMs: 20, knownScalesFile: file, saveDelayMs: 10 });
    gateways.push(g);
    const listening = new Promise((r) => g.once('listening', r));
    g.start();
    await listening;
    return g;
  }

  it('knows every scale after a restart, disconnected, and counts "Missing after" (2 min) from the start, not from before it', async () => {
    const port = await freePort();
    const file = path.join(dirs.make(), 'known-scales.json');
    const clock = new ManualClock();
    const first = await gateway(port, file, clock);
    const gone = await ScaleClient.connect(port);
    clients.push(gone);
    gone.write('SCALE-01');
    const stays = await ScaleClient.connect(port);
    clients.push(stays);
    stays.write('SCALE-02');
    await waitFor(() => first.devices().length === 2, 'two scales');
    gone.destroy();
    await waitFor(() => first.deviceViews().find((d) => d.deviceId === 'SCALE-01')?.health === 'disconnected', 'SCALE-01 gone');
    clock.advance(180_000);
    assert.deepEqual(
      first.missingScales().map((m) => [m.deviceId, m.forMs]),
      [['SCALE-01', 180_000]],
    );
    // The gateway stops with SCALE-02 on; ten minutes later another process starts.
    await first.stop();
    gateways.splice(0);
    const later = new ManualClock(clock.wall() + 600_000);
    const second = await gateway(port, file, later);
    assert.deepEqual(
      second.deviceViews().map((d) => [d.deviceId, d.health, d.disconnectReason]),
      [
        ['SCALE-01', 'disconnected', 'closed-by-scale'],
        ['SCALE-02', 'disconnected', 'gateway-stopped'],
      ],
    );
    assert.equal(second.deviceViews()[0].disconnectedAt, new Date(clock.wall() - 180_000).toISOString(), 'since its real disconnect');
    // Missing from two minutes after the start on: the scales get the time to reconnect.
    assert.deepEqual(second.missingScales(), []);
    later.advance(119_000);
    assert.deepEqual(second.missingScales(), []);
    const back = await ScaleClient.connect(port);
    clients.push(back);
    back.write('SCALE-02');
    await waitFor(() => second.devices().length === 1, 'SCALE-02 back');
    later.advance(1_000);
    assert.deepEqual(
      second.missingScales().map((m) => m.deviceId),
      ['SCALE-01'],
    );
    assert.ok(fs.existsSync(file));
  });

  it('starts with none known when the file is unreadable, and says so', async () => {
    const port = await freePort();
    const file = path.join(dirs.make(), 'known-scales.json');
    fs.writeFileSync(file, '{"format":1,"scales":[');
    const { settings } = parseDp401Settings({ port: String(port), bindAddress: '127.0.0.1', timeZone: 'Europe/Istanbul' });
    const g = new ScaleGateway(settings!, { knownScalesFile: file });
    gateways.push(g);
    const warnings: string[] = [];
    g.on('warning', (w) => warnings.push(w.message));
    g.start();
    assert.deepEqual(g.deviceViews(), []);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^ignored .*known-scales\.json: /);
  });
});
