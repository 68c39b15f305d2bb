import * as assert from 'node:assert/strict';
import { ScaleGateway } from '../../lib/dp401/scale-gateway';
import { parseDp401Settings } from '../../lib/dp401/settings';
import { track } from '../../nodes/shared/live-registry';
import { currentProblems } from '../../nodes/shared/problems';
import { ManualClock } from '../helpers/clock';
import { freePort, waitFor, ScaleClient } from '../helpers/node-red';
import { weighingBytes, CRLF } from '../helpers/lines';

/**
 * What the CarniTrack tab is told about scales that wait for their OK: a real gateway on a real
 * socket, with nothing acknowledging its weighings (the "stored" wire back to dp401-in is
 * missing) and a hand-driven clock instead of a 10 s wait.
 */
describe('problems for the CarniTrack tab: scales waiting for OK (real sockets, injected clock)', () => {
  let gateway: ScaleGateway;
  let untrack = (): void => undefined;
  let client: ScaleClient | null = null;

  afterEach(async () => {
    client?.destroy();
    untrack();
    await gateway?.stop();
  });

  it('names the missing OK after 10 s, with the count and the wait, and per scale; gone once the OK is sent', async () => {
    const port = await freePort();
    const clock = new ManualClock();
    const { settings } = parseDp401Settings({ port: String(port), bindAddress: '127.0.0.1', timeZone: 'Europe/Istanbul', ackMode: 'store' });
    gateway = new ScaleGateway(settings!, { clock, healthIntervalMs: 20 });
    const events: Array<{ id: string; session: string }> = [];
    gateway.on('event', (e, session) => events.push({ id: e.localEventId, session }));
    const listening = new Promise((r) => gateway.once('listening', r));
    gateway.start();
    await listening;
    untrack = track('gateways', { id: 'gw', name: 'DP-401 scales' }, gateway);

    client = await ScaleClient.connect(port);
    client.write(Buffer.concat([Buffer.from('SCALE-05'), weighingBytes(), CRLF]));
    await waitFor(() => events.length === 1, 'the weighing');
    const mine = (): Array<[string, unknown, unknown]> =>
      currentProblems()
        .filter((p) => p.nodeId === 'gw')
        .map((p) => [p.code, p.values.count, p.values.seconds]);
    clock.advance(9_000);
    assert.deepEqual(mine(), [], 'not yet late at 9 s');
    assert.equal(gateway.deviceViews()[0].waitingForOkS, 9);
    clock.advance(3_000);
    assert.deepEqual(mine(), [['no-ok', 1, 12]]);
    assert.equal(currentProblems().find((p) => p.nodeId === 'gw')!.severity, 'error');

    gateway.acknowledge(events[0].session, events[0].id);
    await client.waitForOks(1);
    assert.deepEqual(mine(), []);
    assert.equal(gateway.deviceViews()[0].waitingForOkS, null);
  });
});
