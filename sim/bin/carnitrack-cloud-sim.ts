#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ReferenceCloud } from '../reference-cloud';

const usage = `carnitrack-cloud-sim: the reference CarniTrack Cloud (protocol v3.0)

  --port P          port (default 8080)
  --host H          bind address (default 127.0.0.1)
  --path /edge      WebSocket path (default /edge)
  --api-key K       accepted API key, repeatable (default: $CLOUD_API_KEY, else any key)
  --data FILE       append every message received to FILE as JSON lines
  --session ID      start a session on device ID at once, repeatable (e.g. SCALE-01)

Control API on the same port: GET /api/state, GET /api/events,
POST /api/sessions/start {deviceId, animalTag, ...}, POST /api/sessions/end {deviceId},
POST /api/faults {reject, ackDelayMs, silent, refuseUntil, drop}.
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      path: { type: 'string', default: '/edge' },
      'api-key': { type: 'string', multiple: true },
      data: { type: 'string' },
      session: { type: 'string', multiple: true },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port must be a port number, got "${values.port}"\n\n${usage}`);
    process.exit(2);
  }
  const keys = values['api-key'] ?? (process.env.CLOUD_API_KEY ? [process.env.CLOUD_API_KEY] : []);
  const cloud = new ReferenceCloud({ port, host: values.host, path: values.path, apiKeys: keys, dataFile: values.data });
  await cloud.start();
  let n = 0;
  for (const deviceId of values.session ?? []) {
    n++;
    cloud.startSession({ deviceId, animalId: `animal-${n}`, animalTag: `A-${100 + n}`, animalSpecies: 'Dana', operatorId: `operator-${n}` });
  }
  process.stdout.write(`reference Cloud listening on ${cloud.url.replace('127.0.0.1', values.host!)}${keys.length ? '' : ' (any API key)'}\n`);
  let last = -1;
  const timer = setInterval(() => {
    if (cloud.events.size !== last) {
      last = cloud.events.size;
      process.stdout.write(`${cloud.connections} edge(s) connected, ${cloud.events.size} event(s) acknowledged\n`);
    }
  }, 5000);
  const stop = async (): Promise<void> => {
    clearInterval(timer);
    await cloud.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

void main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
