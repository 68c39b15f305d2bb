import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { SqliteDatabase } from './database';
import type { CheckpointReply } from './checkpoint-worker';

/**
 * Checkpoints off the event loop and out of every commit.
 *
 * SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the one
 * thread that also answers the scales: that commit (and every weighing waiting behind it)
 * waits while thousands of pages are copied and the database file is fsynced. Here automatic
 * checkpoints are off and a worker thread with its own connection runs PASSIVE checkpoints,
 * which never block a writer, when `softPages` frames wait in the log, or once the log has
 * been quiet for `quietMs`.
 *
 * The log starts over (and stops growing) only when a write begins after a checkpoint copied
 * every frame; under constant writes a checkpoint running beside them never gets there. So
 * when the log reaches `hardPages` frames, new commits are held back (the event loop runs on,
 * the weighings wait in memory: `holding`, then `release`) while the worker copies the few
 * frames written since its last run; the next commit then starts the log over. At most
 * `maxHoldMs`: a disk that slow gets its commits back and the log grows until the next try.
 *
 * How many frames wait is read from the wal-index header in the `-shm` file (mxFrame at
 * byte 16, nBackfill at byte 96, in the machine's byte order: sqlite.org/walformat.html),
 * a read of the page cache; it only decides when to ask, never what is safe.
 */
export interface CheckpointerOptions {
  softPages?: number;
  hardPages?: number;
  quietMs?: number;
  everyMs?: number;
  maxHoldMs?: number;
  /** Monotonic ms (tests drive it). */
  now?: () => number;
}

export interface CheckpointerEvents {
  release: [];
  error: [err: Error];
  /** A checkpoint finished: SQLite's figures (frames in the log, frames copied). */
  checkpoint: [r: { log: number; checkpointed: number }];
}

const DEFAULTS = { softPages: 1000, hardPages: 4000, quietMs: 10_000, everyMs: 250, maxHoldMs: 2000 };

/** SQLite's own threshold, restored when no checkpointer is left on a connection. */
const AUTOCHECKPOINT = 1000;

const attached = new WeakMap<SqliteDatabase, { checkpointer: Checkpointer; users: number }>();

export class Checkpointer extends EventEmitter<CheckpointerEvents> {
  private readonly o: Required<Omit<CheckpointerOptions, 'now'>>;
  private readonly now: () => number;
  private worker: Worker | null = null;
  private readonly timer: NodeJS.Timeout;
  private shmFd: number | null = null;
  /** The wal-index header, read into the same buffer each time. */
  private readonly header = Buffer.alloc(100);
  private running = false;
  private commits = 0;
  private commitsAtStart = 0;
  private lastCommitAt: number;
  private holdSince: number | null = null;
  private requestId = 0;
  private closed = false;
  /** Checkpoints run and frames copied, since start (for tests and figures). */
  readonly totals = { runs: 0, holds: 0 };

  /**
   * The checkpointer of a connection, started by its first user: SQLite's automatic checkpoint
   * is off while one runs. Each user calls `detach` once.
   */
  static attach(db: SqliteDatabase, o: CheckpointerOptions = {}): Checkpointer {
    const a = attached.get(db);
    if (a) {
      a.users++;
      return a.checkpointer;
    }
    const checkpointer = new Checkpointer(db, o);
    attached.set(db, { checkpointer, users: 1 });
    return checkpointer;
  }

  /** One user is done; the last one stops the worker and gives SQLite its automatic checkpoint back. */
  static detach(db: SqliteDatabase): void {
    const a = attached.get(db);
    if (!a || --a.users > 0) return;
    attached.delete(db);
    a.checkpointer.close();
    if (db.open)
      try {
        db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT}`);
      } catch {
        /* a connection on a failed disk: it is being given up */
      }
  }

  private constructor(
    private readonly db: SqliteDatabase,
    o: CheckpointerOptions,
  ) {
    super();
    this.o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'now')) };
    this.now = o.now ?? (() => performance.now());
    this.lastCommitAt = this.now();
    db.pragma('wal_autocheckpoint = 0');
    this.timer = setInterval(() => this.tick(), this.o.everyMs);
    this.timer.unref();
  }

  /** While true, the store holds its commits back until `release`. */
  get holding(): boolean {
    return this.holdSince !== null;
  }

  /** The store committed (the log grew). */
  noteCommit(): void {
    this.commits++;
    this.lastCommitAt = this.now();
  }

  /** Frames in the log and frames already copied, from the wal-index header; null when unreadable. */
  frames(): { log: number; backfilled: number } | null {
    try {
      if (this.shmFd === null) this.shmFd = fs.openSync(`${this.db.name}-shm`, 'r');
      const b = this.header;
      if (fs.readSync(this.shmFd, b, 0, 100, 0) < 100) return null;
      const le = os.endianness() === 'LE';
      const u32 = (at: number): number => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
      return { log: u32(16), backfilled: u32(96) };
    } catch {
      return null;
    }
  }

  /** Looks at the log; runs a checkpoint when one is due. Called on the timer (and by tests). */
  tick(): void {
    if (this.closed) return;
    const now = this.now();
    if (this.running) {
      if (this.holdSince !== null && now - this.holdSince > this.o.maxHoldMs) this.release();
      return;
    }
    const f = this.frames();
    if (!f) return;
    const waiting = f.log - f.backfilled;
    if (waiting <= 0) return;
    if (f.log >= this.o.hardPages && this.holdSince === null) {
      this.holdSince = now;
      this.totals.holds++;
    }
    if (waiting >= this.o.softPages || this.holdSince !== null || now - this.lastCommitAt >= this.o.quietMs) this.run();
  }

  private run(): void {
    this.running = true;
    this.commitsAtStart = this.commits;
    this.totals.runs++;
    this.workerThread().postMessage({ id: ++this.requestId });
  }

  private workerThread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(path.join(__dirname, 'checkpoint-worker.js'), { workerData: { file: this.db.name } });
    w.unref();
    w.on('message', (r: CheckpointReply) => this.answered(r));
    w.on('error', (err) => {
      // The thread died (it should not): a new one next time.
      this.worker = null;
      this.running = false;
      this.release();
      if (!this.closed) this.emit('error', err);
    });
    this.worker = w;
    return w;
  }

  private answered(r: CheckpointReply): void {
    this.running = false;
    if (this.closed) return;
    if ('error' in r) {
      this.release();
      const err = new Error(`checkpoint of ${this.db.name} failed: ${r.error.message}`) as Error & { code?: string };
      err.code = r.error.code;
      this.emit('error', err);
      return;
    }
    this.emit('checkpoint', { log: r.log, checkpointed: r.checkpointed });
    if (this.holdSince === null) return;
    // Every frame copied and nothing committed since: the next commit starts the log over.
    if (r.busy === 0 && r.checkpointed === r.log && this.commits === this.commitsAtStart) this.release();
    else if (this.now() - this.holdSince <= this.o.maxHoldMs) this.run();
    else this.release();
  }

  private release(): void {
    if (this.holdSince === null) return;
    this.holdSince = null;
    this.emit('release');
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.release();
    if (this.shmFd !== null)
      try {
        fs.closeSync(this.shmFd);
      } catch {
        /* released either way */
      }
    this.shmFd = null;
    // The worker closes its connection after the checkpoint it may be running, and ends.
    this.worker?.postMessage({ close: true });
    this.worker = null;
    this.removeAllListeners();
  }
}
