import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { PAGE_CACHE_KIB } from './database';

/**
 * The Checkpointer's thread (see checkpointer.ts): a connection of its own to the database,
 * which copies the write-ahead log into the database file when asked, with the fsyncs that
 * takes, while the event loop goes on. Answers each request with SQLite's figures, or the error.
 */
export type CheckpointRequest = { id: number } | { close: true };

export type CheckpointReply = { id: number; busy: number; log: number; checkpointed: number } | { id: number; error: { message: string; code?: string } };

const { file } = workerData as { file: string };
let db: Database.Database | null = null;

parentPort?.on('message', (req: CheckpointRequest) => {
  if ('close' in req) {
    db?.close();
    db = null;
    parentPort?.close();
    return;
  }
  try {
    if (!db) {
      db = new Database(file, { fileMustExist: true, timeout: 0 });
      // FULL: the database file is fsynced before the log may start over (NORMAL does that
      // too for checkpoints; FULL says it whatever the main connection's durability is).
      db.pragma('synchronous = FULL');
      db.pragma('wal_autocheckpoint = 0');
      db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    }
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    parentPort?.postMessage({ id: req.id, busy: r.busy, log: r.log, checkpointed: r.checkpointed } satisfies CheckpointReply);
  } catch (e) {
    const err = e as Error & { code?: string };
    try {
      db?.close();
    } catch {
      /* a connection on a failed disk: given up either way */
    }
    db = null;
    parentPort?.postMessage({ id: req.id, error: { message: err.message, code: err.code } } satisfies CheckpointReply);
  }
});

parentPort?.on('close', () => db?.close());
