import * as fs from 'node:fs';

/**
 * Makes commits durable off the event loop: group commit with the fsync in libuv's thread
 * pool instead of inside the commit.
 *
 * With synchronous=FULL every commit waits for an fsync of the write-ahead log on the one
 * thread that also parses scale lines and talks to the Cloud (half of the cost of storing a
 * weighing, by the benchmark). Here the group is committed without the fsync (NORMAL) and this
 * class fsyncs the WAL file; a commit whose frames are in the WAL before the fsync starts is
 * on disk when it completes, which is what FULL gives: SQLite replays a WAL's committed
 * frames on open, after a power cut too. Only then is a weighing reported stored (and the
 * scale told OK). At most one fsync runs at a time; commits made meanwhile share the next.
 */
export type Fsync = (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;

type Waiter = (err: Error | null) => void;

const syncError = (e: NodeJS.ErrnoException): Error => new Error(`the write-ahead log could not be synced to disk (${e.code ?? e.message})`);

export class WalSync {
  private readonly fd: number;
  private waiting: Waiter[] = [];
  /** The commits the running fsync covers; emptied when they are answered. */
  private inFlight: Waiter[] | null = null;
  private closing = false;

  constructor(
    readonly walFile: string,
    private readonly fsync: Fsync = fs.fsync,
  ) {
    // SQLite keeps the WAL file (one inode: resets and truncating checkpoints rewrite it in
    // place) for as long as a connection is open; the store opens it after the database.
    this.fd = fs.openSync(walFile, 'r');
  }

  /** Calls `done` once everything committed before this call is on disk (or the fsync failed). */
  afterCommit(done: Waiter): void {
    if (this.closing) {
      done(new Error('the store is closed'));
      return;
    }
    this.waiting.push(done);
    if (!this.inFlight) this.start();
  }

  private start(): void {
    const group = this.waiting;
    this.waiting = [];
    this.inFlight = group;
    this.fsync(this.fd, (err) => {
      this.inFlight = null;
      // Answered already when close() synced them itself.
      const answer = group.splice(0);
      for (const cb of answer) cb(err ? syncError(err) : null);
      if (this.closing) fs.closeSync(this.fd);
      else if (this.waiting.length) this.start();
    });
  }

  /**
   * Syncs what is still waiting, or still being synced, now (blocking), answers it, and
   * releases the file (after the running fsync, if one is still in the pool).
   */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    const group = [...(this.inFlight?.splice(0) ?? []), ...this.waiting.splice(0)];
    let err: Error | null = null;
    try {
      if (group.length) fs.fsyncSync(this.fd);
    } catch (e) {
      err = syncError(e as NodeJS.ErrnoException);
    }
    for (const cb of group) cb(err);
    if (!this.inFlight) fs.closeSync(this.fd);
  }
}
