import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { migrate, openDatabase, SCHEMA_VERSION } from '../../lib/db/database';
import { StoreService, type CloudMessage } from '../../lib/store/store-service';
import { storeOptions, taggedEvent, tempDirs } from '../helpers/temp';

/**
 * A database of every earlier schema version, with events in every state written as that
 * version wrote them (every field in `payload`, AUTOINCREMENT seqs with a gap where retention
 * deleted the newest rows), opens with this package: its pending events go to the Cloud in
 * order, the synced and failed ones keep their state, an old id is still known, and new rows
 * go on after the old ones.
 */
describe('migrations from every earlier database version', () => {
  const dirs = tempDirs();
  afterEach(() => dirs.cleanup());

  for (let version = 1; version < SCHEMA_VERSION; version++) {
    it(`opens a version ${version} database: pending events go to the Cloud, states, ids and counts kept`, async () => {
      const file = path.join(dirs.make(), 'site.db');
      const old = new Database(file);
      old.pragma('journal_mode = WAL');
      migrate(old, version);
      const events = Array.from({ length: 6 }, (_, i) => taggedEvent({ weightGrams: 1000 + i, offlineBatchId: i === 5 ? 'b-old' : null }));
      const insert = old.prepare(`INSERT INTO events (local_event_id, device_id, cloud_session_id, offline_batch_id, weight_grams, received_at, raw, payload,
        sync_state, cloud_event_id, synced_at, fail_reason, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      const states = ['synced', 'synced', 'pending', 'failed', 'pending', 'pending'] as const;
      events.forEach((e, i) =>
        insert.run(
          e.localEventId,
          e.deviceId,
          e.cloudSessionId ?? null,
          e.offlineBatchId ?? null,
          e.weightGrams,
          e.receivedAt,
          e.raw ?? null,
          JSON.stringify(e), // every field in payload, as releases before schema 3 wrote it
          states[i],
          states[i] === 'synced' ? `c-${i}` : null,
          states[i] === 'synced' ? 500 : null,
          states[i] === 'failed' ? 'Invalid PLU code' : null,
          100 + i,
        ),
      );
      // Retention of that release deleted the newest synced rows once: AUTOINCREMENT went on past them.
      old.exec("UPDATE sqlite_sequence SET seq = seq + 10 WHERE name = 'events'");
      old.close();

      const db = openDatabase(file);
      try {
        assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
        assert.equal(db.prepare('PRAGMA integrity_check').pluck().get(), 'ok');
        const svc = new StoreService(db, storeOptions());
        const sent: CloudMessage[] = [];
        svc.on('cloud', (m) => sent.push(m));
        assert.deepEqual(
          { ...svc.log.counts(), oldestPendingStoredAt: svc.log.counts().oldestPendingStoredAt },
          { pending: 3, failed: 1, synced: 2, oldestPendingStoredAt: 102 },
        );
        svc.setConnected(true);
        const out = sent.flatMap((m) =>
          m.topic === 'event_batch' ? (m.payload.events as Array<{ localEventId: string }>) : [m.payload as { localEventId: string }],
        );
        assert.deepEqual(
          out.map((e) => e.localEventId),
          [events[2], events[4], events[5]].map((e) => e.localEventId),
          'the pending ones, oldest first',
        );
        assert.deepEqual(out[0], events[2], 'read back exactly as stored');
        assert.equal(await svc.submit(events[0]), false, 'an id stored before the upgrade is still known');
        const fresh = taggedEvent();
        assert.equal(await svc.submit(fresh), true);
        const seqs = svc.log.recent({ limit: 10 }).map((r) => r.seq);
        assert.equal(seqs[0], seqs[1] + 1, 'new rows go on after the old ones');
        for (const e of out) svc.ack({ localEventId: e.localEventId, cloudEventId: `c-${e.localEventId}`, status: 'accepted' });
        assert.equal(svc.log.counts().synced, 5);
        assert.deepEqual(svc.log.batchTotals('b-old'), { eventCount: 1, totalWeightGrams: 1005 });
        assert.equal(svc.log.recent({ syncState: 'failed' })[0].failReason, 'Invalid PLU code');
        svc.close();
        const states = db.prepare('SELECT sync_state AS s, COUNT(*) AS n FROM events GROUP BY sync_state ORDER BY s').all();
        assert.deepEqual(states, [
          { s: 'failed', n: 1 },
          { s: 'pending', n: 1 },
          { s: 'synced', n: 5 },
        ]);
      } finally {
        db.close();
      }
    });
  }
});
