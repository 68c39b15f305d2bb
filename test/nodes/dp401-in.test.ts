import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import type { FlowNode } from 'node-red-node-test-helper';
import dp401InModule = require('../../nodes/dp401-in/dp401-in');
import { live } from '../../nodes/shared/live-registry';
import { currentProblems } from '../../nodes/shared/problems';
import { edgeMetrics } from '../../nodes/shared/admin-routes';
import { formatOpenMetrics } from '../../lib/metrics/openmetrics';
import { helper, withCatalog, freePort, waitFor, collect, calls, ScaleClient, sleep, type Msg } from '../helpers/node-red';
import { weighingBytes, CRLF } from '../helpers/lines';
import { encodeText } from '../../lib/dp401/weighing-line';
import { MAX_WAITING_PER_SCALE, type DeviceView } from '../../lib/dp401/scale-gateway';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDirs } from '../helpers/temp';

const dp401In = withCatalog(dp401InModule as never, 'dp401-in');

interface EventPayload {
  localEventId: string;
  deviceId: string;
  productName: string;
  weightGrams: number;
  tareGrams: number;
  grossGrams: number;
  operator: string;
  sourceIp: string;
  raw: string;
  weightCheck?: { grossMismatch: boolean };
}

/** Nodes with a position: Node-RED treats nodes without x/y as config nodes. */
function onCanvas(nodes: FlowNode[]): FlowNode[] {
  return nodes.map((n, i) => (n.type === 'tab' ? n : { x: 100, y: 40 * (i + 1), ...n }));
}

function flow(port: number, config: Record<string, unknown> = {}): FlowNode[] {
  return onCanvas([
    { id: 'tab', type: 'tab', label: 'scales' },
    {
      id: 'in',
      type: 'dp401-in',
      z: 'tab',
      port: String(port),
      bindAddress: '127.0.0.1',
      ackMode: 'receipt',
      timeZone: 'Europe/Istanbul',
      ...config,
      wires: [['events'], ['devices']],
    },
    { id: 'events', type: 'helper', z: 'tab' },
    { id: 'devices', type: 'helper', z: 'tab' },
  ]);
}

describe('dp401-in node (real sockets)', function () {
  let port: number;
  const clients: ScaleClient[] = [];
  const connect = async (localAddress?: string): Promise<ScaleClient> => {
    const c = await ScaleClient.connect(port, localAddress);
    clients.push(c);
    return c;
  };

  async function load(config: Record<string, unknown> = {}) {
    await helper.load(dp401In, flow(port, config));
    const node = helper.getNode('in');
    const events = collect(helper.getNode('events'));
    const devices = collect(helper.getNode('devices'));
    const warnings = calls(node, 'warn');
    const errors = calls(node, 'error');
    const statuses = calls(node, 'status');
    await waitFor(() => statuses().some((s) => /no scale|scales:/.test(String((s[0] as { text?: string }).text))), 'the node to listen');
    return { node, events, devices, warnings, errors, statuses };
  }

  beforeEach(async () => {
    port = await freePort();
    await helper.startServer();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await helper.unload();
    await helper.stopServer();
  });

  it('turns a weighing split at random byte boundaries into an event with Turkish text intact', async () => {
    const { events, devices } = await load();
    const scale = await connect();
    scale.write('SCALE-01');
    const line = Buffer.concat([weighingBytes({ name: 'İŞKEMBE', operator: 'GÜLŞEN Ağaç ıöü' }), CRLF]);
    for (let pos = 0; pos < line.length;) {
      const n = 1 + Math.floor(Math.random() * 20);
      scale.write(line.subarray(pos, pos + n));
      pos += n;
      await sleep(1);
    }
    await waitFor(() => events.length === 1, 'one event');
    const e = events[0];
    const p = e.payload as EventPayload;
    assert.equal(e.topic, 'event');
    assert.deepEqual(e._session?.type, 'dp401');
    assert.equal(p.deviceId, 'SCALE-01');
    assert.equal(p.productName, 'İŞKEMBE');
    assert.equal(p.operator, 'GÜLŞEN Ağaç ıöü');
    assert.deepEqual([p.weightGrams, p.tareGrams, p.grossGrams], [10000, 2500, 12500]);
    assert.equal(p.sourceIp, '127.0.0.1');
    await scale.waitForOks(1);
    const connected = devices.find((m) => m.topic === 'device_connected');
    assert.deepEqual((connected?.payload as { deviceId: string }).deviceId, 'SCALE-01');
  });

  it('shows scales and the last weight in the node status', async () => {
    const { statuses } = await load();
    const scale = await connect();
    scale.write(Buffer.concat([Buffer.from('SCALE-02'), weighingBytes({ grossRaw: 1250, tareRaw: 0, netRaw: 1250 }), CRLF]));
    await waitFor(() => statuses().some((s) => (s[0] as { text: string }).text === 'scales: 1 · 1.250 kg'), 'status "scales: 1 · 1.250 kg"');
    const last = statuses()[statuses().length - 1][0] as { fill: string };
    assert.equal(last.fill, 'green');
  });

  it('in "after the store confirms" mode, holds OK until the ack for that event comes back', async () => {
    const { node, events } = await load({ ackMode: 'store' });
    const scale = await connect();
    scale.write(Buffer.concat([Buffer.from('SCALE-01'), weighingBytes(), CRLF]));
    await waitFor(() => events.length === 1, 'the event');
    // The transfer query is no data: it is answered at once.
    scale.write('KONTROLLU AKTAR OK?');
    await scale.waitForOks(1);
    await sleep(200);
    assert.equal(scale.oks, 1, 'no OK for the weighing before the store acknowledged it');
    const e = events[0];
    node.receive({ topic: 'ack', _session: e._session, payload: e.payload });
    await scale.waitForOks(2);
  });

  it('refuses an ack without msg._session, naming what is missing', async () => {
    const { node, errors } = await load({ ackMode: 'store' });
    node.receive({ topic: 'ack', payload: {} });
    await waitFor(() => errors().length > 0, 'an error');
    assert.match(String(errors()[0][0]), /_session/);
  });

  it('answers OK to a duplicate but sends it as duplicate_suppressed, not as a new event', async () => {
    const { events, devices } = await load();
    const scale = await connect();
    const line = Buffer.concat([weighingBytes(), CRLF]);
    scale.write(Buffer.concat([Buffer.from('SCALE-01'), line]));
    await scale.waitForOks(1);
    scale.write(Buffer.concat([weighingBytes({ when: new Date(2026, 0, 30, 10, 30, 1) }), CRLF]));
    await scale.waitForOks(2);
    await waitFor(() => devices.some((m) => m.topic === 'duplicate_suppressed'), 'duplicate_suppressed');
    assert.equal(events.length, 1);
    const dup = devices.find((m) => m.topic === 'duplicate_suppressed')!.payload as { originalEventId: string; raw: string };
    assert.equal(dup.originalEventId, (events[0].payload as EventPayload).localEventId);
    assert.match(dup.raw, /10:30:01/);
    // The count is for the CarniTrack tab (the status stays short).
    assert.equal(live.gateways.get('in')!.part.deviceViews()[0].duplicateCount, 1);
  });

  it('in store mode, the duplicate OK waits for the original to be stored', async () => {
    const { node, events } = await load({ ackMode: 'store' });
    const scale = await connect();
    const line = Buffer.concat([weighingBytes(), CRLF]);
    scale.write(Buffer.concat([Buffer.from('SCALE-01'), line, line]));
    await waitFor(() => events.length === 1, 'the event');
    await sleep(200);
    assert.equal(scale.oks, 0);
    node.receive({ topic: 'ack', _session: events[0]._session, payload: events[0].payload });
    await scale.waitForOks(2);
  });

  it('stops reading a scale that writes without waiting for OKs at 8 waiting, and OKs every weighing as its ack comes, none before', async () => {
    const { node, events } = await load({ ackMode: 'store' });
    const scale = await connect();
    const total = 40;
    const lines = Array.from({ length: total }, (_, i) => Buffer.concat([weighingBytes({ netRaw: 1000 + i, grossRaw: 3500 + i }), CRLF]));
    scale.write(Buffer.concat([Buffer.from('SCALE-01'), ...lines]));
    await waitFor(() => events.length === MAX_WAITING_PER_SCALE, `${MAX_WAITING_PER_SCALE} events`);
    await sleep(200);
    assert.equal(events.length, MAX_WAITING_PER_SCALE, 'no more taken while 8 wait for OK');
    assert.equal(scale.oks, 0, 'no OK before its ack');
    // The "store" acks each event as it arrives; every OK follows an ack.
    let acked = 0;
    for (let round = 0; round < 500 && acked < total; round++) {
      while (acked < events.length) {
        const e = events[acked++];
        node.receive({ topic: 'ack', _session: e._session, payload: e.payload });
      }
      assert.ok(events.length - acked <= MAX_WAITING_PER_SCALE);
      await waitFor(() => events.length > acked || scale.oks === total, 'the next events');
      assert.ok(scale.oks <= acked, `${scale.oks} OKs for ${acked} acks`);
    }
    await scale.waitForOks(total);
    assert.deepEqual(
      events.map((e) => (e.payload as EventPayload).weightGrams),
      lines.map((_, i) => 1000 + i),
      'every weighing, in order, once',
    );
  });

  it('logs refused weighings (not_stored) in one line a minute, not one line each', async () => {
    const { node, warnings } = await load({ ackMode: 'store' });
    for (let i = 0; i < 5; i++) node.receive({ topic: 'not_stored', payload: { localEventId: `e${i}`, error: 'SQLITE_FULL' } });
    await waitFor(() => warnings().length > 0, 'a warning');
    await sleep(200);
    const lines = warnings().filter((w) => /was not stored/.test(String(w[0])));
    assert.equal(lines.length, 1, 'one line for five refusals in a minute');
    assert.match(String(lines[0][0]), /e0 was not stored \(SQLITE_FULL\)/);
  });

  it('hands a device id to a new socket, closes the old one as replaced and warns of two scales', async () => {
    const { events, devices, warnings } = await load();
    const first = await connect('127.0.0.1');
    first.write('SCALE-01HB');
    await waitFor(() => devices.some((m) => m.topic === 'device_heartbeat'), 'the first heartbeat');
    const second = await connect('127.0.0.2');
    second.write('SCALE-01');
    await first.waitForClose();
    await waitFor(() => devices.some((m) => m.topic === 'device_disconnected'), 'device_disconnected');
    const gone = devices.find((m) => m.topic === 'device_disconnected')!.payload as { deviceId: string; reason: string; sourceIp: string };
    assert.deepEqual([gone.deviceId, gone.reason, gone.sourceIp], ['SCALE-01', 'replaced', '127.0.0.1']);
    assert.ok(warnings().some((w) => /two scales are probably configured with the same ID/.test(String(w[0]))));
    second.write(Buffer.concat([weighingBytes(), CRLF]));
    await waitFor(() => events.length === 1, 'a weighing on the new socket');
    assert.equal((events[0].payload as EventPayload).sourceIp, '127.0.0.2');
    assert.equal(second.closed, false);
  });

  it('makes two scales with one id a problem naming both addresses, and keeps their take-overs from the flow (and the Cloud)', async () => {
    const { devices, statuses } = await load();
    const first = await connect('127.0.0.1');
    first.write('SCALE-05HB');
    await waitFor(() => devices.some((m) => m.topic === 'device_heartbeat'), 'the first heartbeat');
    const second = await connect('127.0.0.2');
    second.write('SCALE-05HB');
    await first.waitForClose();
    await waitFor(() => devices.some((m) => m.topic === 'device_disconnected'), 'the first take-over, reported');
    // The scale at .1 reconnects and takes the id back, and again the one at .2: the id flips.
    for (let i = 0; i < 3; i++) {
      await sleep(50);
      const back = await connect(i % 2 ? '127.0.0.2' : '127.0.0.1');
      back.write('SCALE-05HB');
      await waitFor(
        () =>
          live.gateways
            .get('in')!
            .part.deviceViews()
            .some((d) => d.sourceIp === (i % 2 ? '127.0.0.2' : '127.0.0.1')),
        'the take-over',
      );
    }
    await sleep(200);
    const byTopic = (t: string): number => devices.filter((m) => m.topic === t).length;
    assert.deepEqual([byTopic('device_connected'), byTopic('device_disconnected')], [2, 1], 'one connect each at first, one replaced: no pair per flip');
    const problem = currentProblems().find((p) => p.code === 'id-conflict');
    assert.deepEqual(problem && [problem.severity, problem.values.device, problem.values.addresses], ['error', 'SCALE-05', '127.0.0.1, 127.0.0.2']);
    const view = live.gateways
      .get('in')!
      .part.deviceViews()
      .find((d) => d.deviceId === 'SCALE-05')!;
    assert.deepEqual(view.idConflict, ['127.0.0.1', '127.0.0.2']);
    assert.match(formatOpenMetrics(edgeMetrics()), /\ncarnitrack_scale_id_conflict\{[^}]*device="SCALE-05"[^}]*\} 2\n/);
    await sleep(1200); // the status is throttled
    assert.match(String((statuses().at(-1)?.[0] as { text?: string } | undefined)?.text), /^ID conflict: SCALE-05$/, 'the status names the id');
  });

  it('never drops a weighing from a scale that did not register', async () => {
    const { events, warnings } = await load({ addressMap: '127.0.0.3=SCALE-09' });
    const anonymous = await connect('127.0.0.1');
    anonymous.write(Buffer.concat([weighingBytes(), CRLF]));
    const mapped = await connect('127.0.0.3');
    mapped.write(Buffer.concat([weighingBytes({ netRaw: 500, grossRaw: 3000 }), CRLF]));
    await waitFor(() => events.length === 2, 'both weighings');
    const ids = events.map((e) => (e.payload as EventPayload).deviceId).sort();
    assert.deepEqual(ids, ['SCALE-09', 'UNREGISTERED-127.0.0.1']);
    await anonymous.waitForOks(1);
    assert.ok(warnings().some((w) => /before it registered/.test(String(w[0]))));
  });

  it('refuses connections from outside the allowed sources', async () => {
    const { events, warnings } = await load({ allowedSources: '127.0.0.2/32' });
    const outsider = await connect('127.0.0.1');
    outsider.write(Buffer.concat([Buffer.from('SCALE-01'), weighingBytes(), CRLF]));
    await outsider.waitForClose();
    const insider = await connect('127.0.0.2');
    insider.write(Buffer.concat([Buffer.from('SCALE-02'), weighingBytes(), CRLF]));
    await insider.waitForOks(1);
    assert.deepEqual(
      events.map((e) => (e.payload as EventPayload).deviceId),
      ['SCALE-02'],
    );
    assert.ok(warnings().some((w) => /127\.0\.0\.1 refused: not in the allowed sources/.test(String(w[0]))));
  });

  it('closes connections over the maximum and keeps serving the others', async () => {
    const { warnings } = await load({ maxConnections: 2 });
    const a = await connect();
    const b = await connect();
    a.write('SCALE-01');
    b.write('SCALE-02');
    await sleep(50);
    const c = await connect();
    await c.waitForClose();
    a.write(Buffer.concat([weighingBytes(), CRLF]));
    b.write(Buffer.concat([weighingBytes(), CRLF]));
    await a.waitForOks(1);
    await b.waitForOks(1);
    assert.ok(warnings().some((w) => /2 connections already open/.test(String(w[0]))));
  });

  it('survives a 10 MiB line without a newline: memory bounded, connection kept, later packets parsed', async () => {
    const { events, devices, warnings } = await load({ maxLineBytes: 4096 });
    const scale = await connect();
    scale.write('SCALE-01');
    const before = process.memoryUsage().rss;
    const chunk = Buffer.alloc(256 * 1024, 0x30);
    scale.write('00001,');
    for (let i = 0; i < 40; i++) {
      if (!scale.socket.write(chunk)) await new Promise((r) => scale.socket.once('drain', r));
    }
    scale.write(Buffer.concat([CRLF, Buffer.from('HB'), weighingBytes(), CRLF]));
    await waitFor(() => events.length === 1, 'the valid line after the long one', 15_000);
    await waitFor(() => devices.some((m) => m.topic === 'device_heartbeat'), 'the heartbeat after the long line');
    await waitFor(() => warnings().some((w) => /discarded a \d+-byte line/.test(String(w[0]))), 'the overflow warning');
    assert.equal(scale.closed, false);
    const grownMiB = (process.memoryUsage().rss - before) / 2 ** 20;
    // The line itself is 10 MiB; the gateway never holds more than the 4 KiB cap of it.
    assert.ok(grownMiB < 64, `rss grew ${grownMiB.toFixed(1)} MiB`);
  });

  it('reports an unreadable weighing line to Catch nodes and sends no OK for it', async () => {
    await helper.load(
      dp401In,
      onCanvas([
        ...flow(port),
        { id: 'catch', type: 'catch', z: 'tab', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper', z: 'tab' },
      ]),
    );
    const caught = collect(helper.getNode('caught'));
    await sleep(100);
    const scale = await connect();
    const bad = encodeText('00001,10:30:00,30.01.2026,KIYMA,123,0000,AYŞE,ABC,0,0,0,0,0,1,N,X', 'windows-1254');
    scale.write(Buffer.concat([Buffer.from('SCALE-01'), bad, CRLF]));
    await waitFor(() => caught.length === 1, 'the Catch node to get the error');
    const m = caught[0] as Msg & { error: { message: string } };
    assert.equal(m.topic, 'line_rejected');
    assert.match(m.error.message, /gross "ABC"/);
    assert.equal((m.payload as { raw: string }).raw, bad.toString('latin1').replace('\xde', 'Ş'));
    await sleep(100);
    assert.equal(scale.oks, 0);
  });

  it('closes a silent scale after the timeout and reports stale, then disconnected', async () => {
    const { devices } = await load({ staleAfterS: 0.3, timeoutAfterS: 1.5 });
    const scale = await connect();
    scale.write('SCALE-05');
    await scale.waitForClose(5000);
    // The scale sees its socket close a moment before the gateway reports it.
    await waitFor(() => devices.some((m) => m.topic === 'device_disconnected'), 'device_disconnected');
    const statuses = devices.filter((m) => m.topic === 'device_status').map((m) => (m.payload as { status: string }).status);
    assert.deepEqual(statuses, ['stale', 'disconnected']);
    const gone = devices.find((m) => m.topic === 'device_disconnected')!.payload as { reason: string };
    assert.equal(gone.reason, 'heartbeat-timeout');
  });

  it('closes a device socket on a "disconnect" message', async () => {
    const { node, devices } = await load();
    const scale = await connect();
    scale.write('SCALE-07');
    await waitFor(() => devices.some((m) => m.topic === 'device_connected'), 'device_connected');
    node.receive({ topic: 'disconnect', payload: 'SCALE-07' });
    await scale.waitForClose();
    await waitFor(() => devices.some((m) => m.topic === 'device_disconnected'), 'device_disconnected');
    assert.equal((devices.find((m) => m.topic === 'device_disconnected')!.payload as { reason: string }).reason, 'requested');
  });

  it('shows an invalid setting in red, naming the field, and does not listen', async () => {
    await helper.load(dp401In, flow(port, { port: '99999', weightUnit: '3' }));
    const node = helper.getNode('in');
    const errors = calls(node, 'error');
    const st = calls(node, 'status');
    await waitFor(() => st().length > 0 && errors().length >= 2, 'status and errors');
    assert.match(String((st()[0][0] as { text: string }).text), /^invalid settings$/);
    assert.equal((st()[0][0] as { fill: string }).fill, 'red');
    assert.ok(errors().some((e) => /port must be a whole number from 1 to 65535, got "99999"/.test(String(e[0]))));
    assert.ok(errors().some((e) => /weightUnit/.test(String(e[0]))));
    const [problem, ...more] = currentProblems();
    assert.deepEqual([problem.code, problem.values.type, more.length], ['not-running', 'dp401-in', 0]);
    assert.match(String(problem.values.problem), /port must be a whole number/);
    node.receive({ topic: 'ack', payload: {} });
    await waitFor(() => errors().some((e) => /not running/.test(String(e[0]))), 'input refused with a reason');
  });

  it('does not crash when the port is taken: red status, retries, then listens once it is free', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    await helper.load(dp401In, flow(port));
    const node = helper.getNode('in');
    const statuses = calls(node, 'status');
    const errors = calls(node, 'error');
    await waitFor(() => statuses().some((s) => /^port \d+ in use$/.test((s[0] as { text: string }).text)), 'the port-in-use status');
    assert.equal((statuses().find((s) => /in use/.test((s[0] as { text: string }).text))![0] as { fill: string }).fill, 'red');
    assert.ok(errors().some((e) => /EADDRINUSE/.test(String(e[0]))));
    // The tab names it in words, with the port.
    assert.deepEqual(
      currentProblems().map((p) => [p.nodeId, p.code, p.values.port]),
      [['in', 'port-in-use', port]],
    );
    await new Promise<void>((r) => blocker.close(() => r()));
    await waitFor(
      () => /^no scale · :\d+$/.test(String((statuses()[statuses().length - 1][0] as { text: string }).text)),
      'the node to listen after the port was freed',
      10_000,
    );
    assert.deepEqual(currentProblems(), []);
    const scale = await connect();
    scale.write(Buffer.concat([Buffer.from('SCALE-01'), weighingBytes(), CRLF]));
    await scale.waitForOks(1);
  });

  it('survives 50 partial redeploys on the same port with no EADDRINUSE and no leaked sockets', async function () {
    this.timeout(120_000);
    const base = flow(port);
    await helper.load(dp401In, base);
    const errorGetters: Array<() => unknown[][]> = [];
    let previous: ScaleClient | null = null;
    for (let i = 0; i < 50; i++) {
      // Changing a setting makes Node-RED stop and recreate just this node.
      const next = base.map((n) => (n.id === 'in' ? { ...n, name: `redeploy ${i}` } : n));
      await helper.setFlows(next, 'nodes');
      const node = helper.getNode('in');
      errorGetters.push(calls(node, 'error'));
      if (previous) {
        // The old node destroyed the old scale's socket when it closed.
        await previous.waitForClose(2000);
      }
      const events = collect(helper.getNode('events'));
      const scale = await connect();
      scale.write(Buffer.concat([Buffer.from('SCALE-01'), weighingBytes({ netRaw: 1000 + i, grossRaw: 3500 + i }), CRLF]));
      await scale.waitForOks(1);
      await waitFor(() => events.length === 1, `the event after redeploy ${i}`);
      previous = scale;
    }
    assert.deepEqual(
      errorGetters.flatMap((g) => g()),
      [],
    );
    await helper.unload();
    await previous!.waitForClose();
    // The port is free again: something else can listen on it at once.
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((r) => probe.close(() => r()));
  });
});

describe('dp401-in: every scale ever seen stays known (real sockets, a real user directory)', function () {
  this.timeout(30_000);
  let port: number;
  let userDir: string;
  const dirs = tempDirs();
  const clients: ScaleClient[] = [];
  const connect = async (localAddress?: string): Promise<ScaleClient> => {
    const c = await ScaleClient.connect(port, localAddress);
    clients.push(c);
    return c;
  };
  const settings = (s: Record<string, unknown>): void => (helper as unknown as { settings(s: Record<string, unknown>): void }).settings(s);
  interface Answer {
    status: number;
    text: string;
    body: Record<string, unknown>;
  }
  const admin = (): { get(r: string): Promise<Answer>; delete(r: string): Promise<Answer> } =>
    (helper as unknown as { request(): { get(r: string): Promise<Answer>; delete(r: string): Promise<Answer> } }).request();
  const views = (): DeviceView[] => live.gateways.get('in')!.part.deviceViews();
  const view = (id: string): DeviceView | undefined => views().find((d) => d.deviceId === id);
  const savedFile = (): string => path.join(userDir, 'carnitrack', 'known-scales-in.json');
  const saved = (): Array<{ deviceId: string; state: string; lastWeightGrams: number | null }> =>
    (JSON.parse(fs.readFileSync(savedFile(), 'utf8')) as { scales: Array<{ deviceId: string; state: string; lastWeightGrams: number | null }> }).scales;

  async function load(config: Record<string, unknown> = {}) {
    await helper.load(dp401In, flow(port, config));
    const node = helper.getNode('in');
    const devices = collect(helper.getNode('devices'));
    const statuses = calls(node, 'status');
    await waitFor(() => statuses().some((s) => /no scale|scales:/.test(String((s[0] as { text?: string }).text))), 'the node to listen');
    return { node, devices, statuses, logs: calls(node, 'log') };
  }

  beforeEach(async () => {
    port = await freePort();
    userDir = dirs.make('carnitrack-known-');
    settings({ userDir });
    await helper.startServer();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await helper.unload();
    await helper.stopServer();
    settings({});
    dirs.cleanup();
  });

  it('keeps a scale that drops off: disconnected with its last weight and address in the views and /metrics, a log line each way, and after "Missing after" a problem naming it', async () => {
    const { logs, statuses } = await load({ missingAfterMin: 0.02 }); // 1.2 s
    const scale = await connect('127.0.0.4');
    scale.write('SCALE-04');
    await scale.weigh(1250);
    assert.equal(view('SCALE-04')?.health, 'online');
    scale.destroy();
    await waitFor(() => view('SCALE-04')?.health === 'disconnected', 'the scale shown disconnected');
    const v = view('SCALE-04')!;
    assert.deepEqual([v.connectionId, v.sourceIp, v.lastWeightGrams, v.disconnectReason, v.heartbeatCount], [null, '127.0.0.4', 1250, 'closed-by-scale', null]);
    assert.ok(Date.parse(v.lastSeenAt) <= Date.parse(v.since) && Date.parse(v.since) <= Date.now());
    const text = logs().map((l) => String(l[0]));
    assert.ok(text.includes('SCALE-04 connected from 127.0.0.4'), text.join('\n'));
    assert.ok(text.includes('SCALE-04 disconnected from 127.0.0.4 (closed-by-scale)'), text.join('\n'));
    const metrics = formatOpenMetrics(edgeMetrics());
    assert.match(metrics, /\ncarnitrack_scale_online\{[^}]*device="SCALE-04"\} 0\n/);
    assert.match(metrics, /\ncarnitrack_scale_connected\{[^}]*device="SCALE-04"\} 0\n/);
    assert.match(metrics, /\ncarnitrack_scale_last_seen_age_seconds\{[^}]*device="SCALE-04"\} \d+\n/);
    assert.match(metrics, /\ncarnitrack_scale_last_weight_grams\{[^}]*device="SCALE-04"\} 1250\n/);
    assert.match(metrics, /\ncarnitrack_scales_connected\{[^}]*\} 0\n/);
    // Not yet a problem; once it has been gone longer than the setting, a warning naming it.
    assert.deepEqual(
      currentProblems().filter((p) => p.code === 'scale-disconnected'),
      [],
    );
    await waitFor(() => currentProblems().some((p) => p.code === 'scale-disconnected'), 'the missing scale as a problem');
    const problem = currentProblems().find((p) => p.code === 'scale-disconnected')!;
    assert.deepEqual([problem.severity, problem.values.device, problem.values.address], ['warning', 'SCALE-04', '127.0.0.4']);
    assert.equal(view('SCALE-04')!.missing, true);
    const devices = (await admin().get('/carnitrack/devices')).body as unknown as Array<Record<string, unknown>>;
    assert.deepEqual(
      devices.map((d) => [d.nodeId, d.deviceId, d.health, d.missing]),
      [['in', 'SCALE-04', 'disconnected', true]],
    );
    // Health stays 200 (a warning), and says it.
    const health = await admin().get('/carnitrack/health');
    assert.equal(health.status, 200);
    assert.match(String((health.body.warnings as string[])[0]), /^in: SCALE-04 has been disconnected for \d+ s \(last at 127\.0\.0\.4\)$/);
    await waitFor(() => (statuses().at(-1)?.[0] as { fill?: string } | undefined)?.fill === 'yellow', 'a yellow status');
    // It comes back: online, no problem.
    const again = await connect('127.0.0.4');
    again.write('SCALE-04HB');
    await waitFor(() => view('SCALE-04')?.health === 'online', 'the scale back online');
    assert.deepEqual(
      currentProblems().filter((p) => p.code === 'scale-disconnected'),
      [],
    );
  });

  it('saves the known scales on connect and disconnect only (heartbeats and weighings write nothing), and knows them after a redeploy', async () => {
    await load();
    const scale = await connect();
    scale.write('SCALE-06');
    await waitFor(() => fs.existsSync(savedFile()) && saved().some((s) => s.deviceId === 'SCALE-06'), 'the connect saved', 10_000);
    const before = fs.statSync(savedFile());
    for (let i = 0; i < 5; i++) {
      scale.write('HB');
      await scale.weigh(1000 + i);
    }
    await sleep(2500); // longer than the save delay (2 s)
    const after = fs.statSync(savedFile());
    assert.deepEqual([after.ino, after.mtimeMs], [before.ino, before.mtimeMs], 'the file was not written again');
    scale.destroy();
    await waitFor(() => saved().some((s) => s.deviceId === 'SCALE-06' && s.state === 'disconnected'), 'the disconnect saved', 10_000);
    assert.equal(saved()[0].lastWeightGrams, 1004);

    // A redeploy of the node (a setting changed): the new node knows the scale, disconnected.
    const other = await connect();
    other.write('SCALE-07');
    await waitFor(() => view('SCALE-07')?.health === 'online', 'SCALE-07 online');
    await helper.setFlows(
      flow(port).map((n) => (n.id === 'in' ? { ...n, name: 'redeployed' } : n)),
      'nodes',
    );
    await other.waitForClose();
    await waitFor(() => live.gateways.get('in')?.part.isListening === true, 'the new node');
    assert.deepEqual(
      views().map((d) => [d.deviceId, d.health, d.disconnectReason, d.lastWeightGrams]),
      [
        ['SCALE-06', 'disconnected', 'closed-by-scale', 1004],
        ['SCALE-07', 'disconnected', 'gateway-stopped', null],
      ],
    );
  });

  it('forgets a disconnected scale over DELETE /carnitrack/scales/:id; a connected one answers 409', async () => {
    await load();
    const on = await connect('127.0.0.1');
    on.write('SCALE-08');
    const off = await connect('127.0.0.2');
    off.write('SCALE-09');
    await waitFor(() => view('SCALE-08')?.health === 'online' && view('SCALE-09')?.health === 'online', 'both online');
    off.destroy();
    await waitFor(() => view('SCALE-09')?.health === 'disconnected', 'SCALE-09 disconnected');
    const busy = await admin().delete('/carnitrack/scales/SCALE-08');
    assert.equal(busy.status, 409);
    assert.match(String(busy.body.error), /SCALE-08 is connected/);
    const gone = await admin().delete('/carnitrack/scales/SCALE-09?node=in');
    assert.equal(gone.status, 200, gone.text);
    assert.deepEqual(gone.body, { deviceId: 'SCALE-09', forgotten: ['in'] });
    assert.deepEqual(
      views().map((d) => d.deviceId),
      ['SCALE-08'],
    );
    assert.equal((await admin().delete('/carnitrack/scales/SCALE-09')).status, 404);
    assert.equal((await admin().delete('/carnitrack/scales/SCALE-09?node=nope')).status, 404);
    await waitFor(() => fs.existsSync(savedFile()) && !saved().some((s) => s.deviceId === 'SCALE-09'), 'the forget saved', 10_000);
  });

  it('logs a flapping scale once a minute each way, not once per flap', async () => {
    const { logs } = await load();
    for (let i = 0; i < 10; i++) {
      const c = await connect();
      c.write('SCALE-10');
      await waitFor(() => view('SCALE-10')?.health === 'online', `connect ${i}`);
      c.destroy();
      await waitFor(() => view('SCALE-10')?.health === 'disconnected', `disconnect ${i}`);
    }
    const lines = logs()
      .map((l) => String(l[0]))
      .filter((l) => /SCALE-10/.test(l));
    assert.deepEqual(lines, ['SCALE-10 connected from 127.0.0.1', 'SCALE-10 disconnected from 127.0.0.1 (closed-by-scale)']);
  });

  it('deletes its known scales when the node is removed from the flow', async () => {
    await load();
    const scale = await connect();
    scale.write('SCALE-11');
    await waitFor(() => fs.existsSync(savedFile()), 'the file', 10_000);
    await helper.setFlows([{ id: 'tab', type: 'tab', label: 'scales' }], 'full');
    await waitFor(() => !live.gateways.has('in'), 'the node gone');
    assert.equal(fs.existsSync(savedFile()), false);
  });
});
