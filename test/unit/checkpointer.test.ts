import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDatabase, PAGE_CACHE_KIB, type SqliteDatabase } from '../../lib/db/database';
import { Checkpointer } from '../../lib/db/checkpointer';
import { StoreService } from '../../lib/store/store-service';
import { storeOptions, taggedEvent, tempDirs } from '../helpers/temp';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Until `ok()` or 10 s. */
async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await tick(20);
  assert.ok(ok(), what);
}

describe('Checkpointer: checkpoints on a worker thread, never inside a commit (real SQLite file, real worker)', () => {
  const dirs = tempDirs();
  let db: SqliteDatabase;
  beforeEach(() => (db = openDatabase(path.join(dirs.make(), 'site.db'))));
  afterEach(() => {
    Checkpointer.detach(db);
    if (db.open) db.close();
    dirs.cleanup();
  });

  // One commit a call, each a frame in the WAL (a new value each time: SQLite writes no page
  // for an update that changes nothing).
  let written = 0;
  const write = (n: number): void => {
    const upsert = db.prepare(
      "INSERT INTO plu_items (plu_code, item, updated_at) VALUES (?, 'x', ?) ON CONFLICT DO UPDATE SET updated_at = excluded.updated_at",
    );
    for (let i = 0; i < n; i++) upsert.run(written % 50, ++written);
  };

  it('keeps each connection’s page cache at SQLite’s 2 MB, not the 16 MB better-sqlite3 builds in (resident memory of a busy store)', () => {
    assert.equal(db.pragma('cache_size', { simple: true }), -PAGE_CACHE_KIB);
    assert.ok(PAGE_CACHE_KIB <= 2048, `${PAGE_CACHE_KIB} KiB`);
  });

  it('turns SQLite’s automatic checkpoint off while it runs, and gives it back when the last user detaches', () => {
    const c = Checkpointer.attach(db);
    assert.equal(Checkpointer.attach(db), c, 'one per connection');
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
    write(1500); // past SQLite's 1,000 pages: no commit copied the WAL
    const f = c.frames();
    assert.ok(f && f.log >= 1500 && f.backfilled === 0, `every frame still in the WAL: ${JSON.stringify(f)}`);
    Checkpointer.detach(db);
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'a user is left');
    Checkpointer.detach(db);
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    Checkpointer.attach(db); // for afterEach
  });

  it('copies the WAL on its thread once softPages wait, and when the writes go quiet', async () => {
    let now = 0;
    const c = Checkpointer.attach(db, { softPages: 100, quietMs: 1000, everyMs: 60_000, now: () => now });
    const done: Array<{ log: number; checkpointed: number }> = [];
    c.on('checkpoint', (r) => done.push(r));
    write(50);
    c.noteCommit();
    c.tick();
    assert.equal(c.totals.runs, 0, '50 frames: not yet');
    write(60);
    c.tick();
    await until(() => done.length === 1, 'a checkpoint ran');
    assert.equal(done[0].checkpointed, done[0].log, 'all of it copied');
    write(5);
    c.noteCommit();
    c.tick();
    assert.equal(c.totals.runs, 1, 'a few frames, still writing: none');
    now += 1500;
    c.tick();
    await until(() => done.length === 2, 'the quiet checkpoint ran');
  });

  it('under constant writes holds commits back at hardPages until the WAL can start over, so it stops growing; without that it grows', async () => {
    const run = async (hardPages: number): Promise<{ maxLog: number; holds: number }> => {
      const c = Checkpointer.attach(db, { softPages: 50, hardPages, everyMs: 5, maxHoldMs: 5000 });
      let maxLog = 0;
      const t0 = Date.now();
      // A writer that commits on every turn of the event loop unless the checkpointer holds it.
      for (let i = 0; i < 3000 && Date.now() - t0 < 8000; i++) {
        if (!c.holding) {
          write(1);
          c.noteCommit();
        }
        maxLog = Math.max(maxLog, c.frames()?.log ?? 0);
        await new Promise((r) => setImmediate(r));
      }
      const holds = c.totals.holds;
      Checkpointer.detach(db);
      return { maxLog, holds };
    };
    const held = await run(200);
    assert.ok(held.holds > 0, 'it held');
    assert.ok(held.maxLog < 400, `the WAL stayed near 200 frames: at most ${held.maxLog}`);
    const free = await run(1_000_000);
    assert.ok(free.maxLog > 1000, `without a hold it only grows: ${free.maxLog} frames (the control)`);
    Checkpointer.attach(db); // for afterEach
  });

  it('a store holds its weighings while the checkpointer holds, and commits them at the release; OK still means committed', async () => {
    const svc = new StoreService(db, storeOptions({ checkpoints: { softPages: 1_000_000, hardPages: 1, everyMs: 60_000 } }));
    try {
      assert.equal(await svc.submit(taggedEvent()), true);
      const c = Checkpointer.attach(db); // the same one the store uses
      Checkpointer.detach(db);
      c.tick(); // 1 frame >= hardPages: hold, and a checkpoint on the worker
      assert.equal(c.holding, true);
      let stored = false;
      const p = svc.submit(taggedEvent()).then((r) => (stored = r));
      await tick(5);
      assert.equal(stored, false, 'waits while held');
      await p;
      assert.equal(stored, true, 'committed after the release');
      assert.equal(svc.log.counts().pending, 2);
      assert.ok(fs.existsSync(`${db.name}-wal`));
    } finally {
      svc.close();
    }
  });
});
