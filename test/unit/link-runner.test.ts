import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CloudClient } from '../../lib/cloud/cloud-client';
import { CAPABILITIES, LinkRunner, type LinkOutputs } from '../../lib/cloud/link-runner';
import type { CloudLinkSettings } from '../../lib/cloud/settings';
import type { OutageLine } from '../../lib/cloud/outage-log';
import type { CloudStatusMessage, EventAcksMessage, ProtocolMessage } from '../../lib/protocol/wire';
import { packageVersion } from '../../lib/util/package-version';
import { ReferenceCloud } from '../../sim/reference-cloud';
import { waitFor } from '../helpers/node-red';
import { tempDirs } from '../helpers/temp';

const settings = (over: Partial<CloudLinkSettings> = {}): CloudLinkSettings => ({
  url: '',
  keepAliveS: 30,
  pongTimeoutS: 10,
  minBackoffS: 0.05,
  maxBackoffS: 0.2,
  handshakeTimeoutS: 5,
  maxFrameKB: 1024,
  ackOutput: 'grouped',
  ...over,
});

describe('LinkRunner: a CloudClient as cloud-link runs it (the reference Cloud, real WebSocket)', function () {
  this.timeout(30_000);
  let cloud: ReferenceCloud;
  let client: CloudClient | null = null;
  let runner: LinkRunner;
  const out = { status: [] as CloudStatusMessage[], fromCloud: [] as ProtocolMessage[], acks: [] as EventAcksMessage[], log: [] as OutageLine[] };
  const outputs: LinkOutputs = {
    status: (m) => out.status.push(m),
    fromCloud: (m) => out.fromCloud.push(m),
    acks: (m) => out.acks.push(m),
    log: (l) => out.log.push(l),
  };

  beforeEach(async () => {
    cloud = new ReferenceCloud({ apiKeys: ['k'] });
    await cloud.start();
    for (const list of Object.values(out)) list.splice(0);
  });
  afterEach(async () => {
    runner?.close();
    await client?.stop();
    client = null;
    await cloud.stop();
  });

  const connect = (over: Partial<CloudLinkSettings> = {}): CloudClient => {
    runner = new LinkRunner(settings({ url: cloud.url, ...over }), outputs);
    client = runner.open({ siteId: 'SITE01', siteName: 'Test plant' }, 'k', null, undefined);
    return client;
  };

  it("registers with this package's version and what the Edge can do, and says every status as cloud_status", async () => {
    const c = connect();
    runner.starting(c);
    c.start();
    await waitFor(() => out.status.some((m) => m.payload.connected), 'connected');
    assert.deepEqual(out.status[0].payload, { connected: false, edgeId: null, reason: 'starting', attempt: 0, nextRetryMs: null, state: 'connecting' });
    const register = cloud.received.find((m) => m.type === 'register')!;
    assert.equal(register.payload.version, JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8')).version);
    assert.deepEqual(register.payload.capabilities, CAPABILITIES);
    assert.deepEqual(out.log[0], { level: 'info', key: 'connected', params: {} });
  });

  it('holds only the latest status of each device while down and sends it on connect; other messages are left to the store', async () => {
    const c = connect();
    const beat = (n: number) => ({ topic: 'device_heartbeat', payload: { deviceId: 'SCALE-01', status: 'online', heartbeatCount: n, timestamp: 'x' } });
    runner.send(c, beat(1), 'SITE01');
    runner.send(c, beat(2), 'SITE01');
    runner.send(c, { topic: 'event', payload: { localEventId: 'e1', deviceId: 'SCALE-01', weightGrams: 1, receivedAt: 'x' } }, 'SITE01');
    assert.throws(() => runner.send(c, { topic: 'session_started', payload: {} }, 'SITE01'), /"session_started" is not a message the Edge sends/);
    c.start();
    await waitFor(() => cloud.received.some((m) => m.type === 'device_heartbeat'), 'the held heartbeat');
    const beats = cloud.received.filter((m) => m.type === 'device_heartbeat');
    assert.equal(beats.length, 1);
    assert.equal(beats[0].payload.heartbeatCount, 2);
    assert.equal(beats[0].payload.globalDeviceId, 'SITE01-SCALE-01', 'the Cloud knows devices as <siteId>-<deviceId>');
    assert.equal(cloud.received.filter((m) => m.type === 'event').length, 0);
  });

  it("groups the Cloud's acks of one answer in one event_acks, and passes everything else on as it came", async () => {
    const c = connect();
    c.start();
    await waitFor(() => c.isConnected, 'connected');
    const events = ['e1', 'e2', 'e3'].map((id) => ({ localEventId: id, deviceId: 'SCALE-01', weightGrams: 1, receivedAt: new Date().toISOString() }));
    runner.send(c, { topic: 'event_batch', payload: { events } }, 'SITE01');
    await waitFor(() => out.acks.length > 0, 'event_acks');
    assert.deepEqual(
      out.acks[0].payload.acks.map((a) => a.localEventId),
      ['e1', 'e2', 'e3'],
    );
    assert.ok(out.fromCloud.some((m) => m.topic === 'registered'));
    assert.ok(!out.fromCloud.some((m) => m.topic === 'event_ack'));
  });

  it('with acks one by one, passes each on like any other message', async () => {
    const c = connect({ ackOutput: 'each' });
    c.start();
    await waitFor(() => c.isConnected, 'connected');
    runner.send(c, { topic: 'event', payload: { localEventId: 'e9', deviceId: 'SCALE-01', weightGrams: 1, receivedAt: new Date().toISOString() } }, 'SITE01');
    await waitFor(() => out.fromCloud.some((m) => m.topic === 'event_ack'), 'event_ack');
    assert.equal(out.acks.length, 0);
  });
});

describe('packageVersion', () => {
  const dirs = tempDirs();
  after(() => dirs.cleanup());

  it('reads the nearest package.json above, however deep the file sits, and says 0.0.0 without one', () => {
    const root = dirs.make();
    fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ version: '4.5.6' }));
    const deep = path.join(root, 'dist', 'lib', 'util');
    fs.mkdirSync(deep, { recursive: true });
    assert.equal(packageVersion(deep), '4.5.6');
    assert.equal(packageVersion(root), '4.5.6');
    fs.writeFileSync(path.join(root, 'package.json'), '{');
    assert.equal(packageVersion(deep), '0.0.0');
  });
});
