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

/** Keeps the OS's code (EIO, ENOTCONN ...), so callers can tell a disk fault (isDiskFault). */
const syncError = (e: NodeJS.ErrnoException): Error => {
  const err = new Error(`the write-ahead log could not be synced to disk (${e.code ?? e.message})`) as NodeJS.ErrnoException;
  err.code = e.code;
  return err;
};

/** Closes a descriptor that may sit on a dead disk: the kernel frees it even when close reports an error. */
function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* EIO or ENOTCONN on a vanished mount: the descriptor is released anyway */
  }
}

/** Answers every waiter: one that throws must not stop the others, nor escape into libuv (an uncaught exception). */
function answerAll(waiters: Waiter[], err: Error | null): void {
  for (const cb of waiters) {
    try {
      cb(err);
    } catch {
      /* the waiter's own error; it reports its own */
    }
  }
}

export class WalSync {
  private readonly fd: number;
  private waiting: Waiter[] = [];
  /** The commits the running fsync covers; emptied when they are answered. */
  private inFlight: Waiter[] | null = null;
  private closing = false;
  private failed: Error | null = null;
  private fdClosed = false;

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
    // After a failed fsync nothing later can be trusted: the kernel may have dropped the dirty
    // pages it could not write and report the next fsync a success, and SQLite's recovery stops
    // at the first frame it cannot read back. The connection must be opened again (the store
    // reports a disk fault); until then every commit is refused.
    if (this.failed) {
      done(this.failed);
      return;
    }
    this.waiting.push(done);
    if (!this.inFlight) this.start();
  }

  /** The fsync that failed, if one did: this WalSync refuses everything from then on. */
  get failure(): Error | null {
    return this.failed;
  }

  private start(): void {
    const group = this.waiting;
    this.waiting = [];
    this.inFlight = group;
    this.fsync(this.fd, (err) => {
      this.inFlight = null;
      if (err && !this.failed) this.failed = syncError(err);
      // Answered already when close() synced them itself. After a failure the commits that
      // waited behind this fsync are refused too (see afterCommit).
      answerAll(this.failed ? [...group.splice(0), ...this.waiting.splice(0)] : group.splice(0), this.failed);
      if (this.closing) this.releaseFile();
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
    if (this.failed) err = this.failed;
    else
      try {
        if (group.length) fs.fsyncSync(this.fd);
      } catch (e) {
        err = this.failed = syncError(e as NodeJS.ErrnoException);
      }
    answerAll(group, err);
    if (!this.inFlight) this.releaseFile();
  }

  /** Closes the descriptor once (a callback may close the store while its fsync is being answered). */
  private releaseFile(): void {
    if (this.fdClosed) return;
    this.fdClosed = true;
    closeQuietly(this.fd);
  }
}
