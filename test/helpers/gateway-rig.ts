import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { ScaleGateway, type GatewayOptions } from '../../lib/dp401/scale-gateway';
import { parseDp401Settings, type RawDp401Config } from '../../lib/dp401/settings';
import { openDatabase, type SqliteDatabase } from '../../lib/db/database';
import { StoreService } from '../../lib/store/store-service';
import { ManualClock } from './clock';
import { freePort, waitFor, ScaleClient } from './node-red';
import { storeOptions } from './temp';

/**
 * What the gateway tests share: a ScaleGateway on a free loopback port (store acks, Istanbul
 * time, health checks every 20 ms on a hand-driven clock), a real SQLite StoreService in a
 * temporary folder beside it, and the scale clients a test opens. Each test wires gateway and
 * store its own way before `listen()`; `stop()` releases sockets, gateway, store and database.
 */
export class GatewayRig {
  readonly clients: ScaleClient[] = [];

  private constructor(
    readonly port: number,
    readonly clock: ManualClock,
    readonly db: SqliteDatabase,
    readonly svc: StoreService,
    readonly gateway: ScaleGateway,
  ) {}

  static async create(dir: string, config: RawDp401Config = {}, options: GatewayOptions = {}): Promise<GatewayRig> {
    const port = await freePort();
    const clock = new ManualClock();
    const { settings, errors } = parseDp401Settings({ port: String(port), bindAddress: '127.0.0.1', timeZone: 'Europe/Istanbul', ackMode: 'store', ...config });
    assert.deepEqual(errors, []);
    const db = openDatabase(path.join(dir, 'site.db'));
    const svc = new StoreService(db, storeOptions({ siteId: 'S' }));
    return new GatewayRig(port, clock, db, svc, new ScaleGateway(settings!, { clock, healthIntervalMs: 20, ...options }));
  }

  async listen(): Promise<void> {
    const listening = new Promise((r) => this.gateway.once('listening', r));
    this.gateway.start();
    await listening;
  }

  /** A scale connection (from `localAddress`), registered as `id` when one is given. */
  async scale(id?: string, localAddress?: string): Promise<ScaleClient> {
    const c = await ScaleClient.connect(this.port, localAddress);
    this.clients.push(c);
    if (id) {
      c.write(id);
      await waitFor(() => this.gateway.devices().some((d) => d.deviceId === id), `${id} to register`);
    }
    return c;
  }

  async stop(): Promise<void> {
    for (const c of this.clients.splice(0)) c.destroy();
    await this.gateway.stop();
    this.svc.close();
    this.db.close();
  }
}
