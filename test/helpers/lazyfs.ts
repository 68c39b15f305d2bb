import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/*
 * LazyFS (github.com/dsrhaslab/lazyfs, MIT, vendored in <repo>/../shared/tools/lazyfs): a FUSE
 * file system whose page cache keeps every write until it is fsynced. `clearCache()` drops what
 * was not synced: the power cut. Read shared/tools/lazyfs/README.md before changing this file;
 * each gotcha it lists is handled here (see the comments naming them).
 */

const PACKAGE_NAME = '@carnitrack/node-red-edge';
const DEFAULT_BUILD = '/var/tmp/carnitrack-lazyfs-build';
// Where the lead's `bash build.sh` (no LAZYFS_BUILD) puts it: reused when it is there.
const SHARED_DEFAULT_BUILD = '/tmp/lazyfs-build';
// LazyFS reads its FIFO 100 bytes at a time and takes each read as one command.
const MAX_COMMAND = 99;

/** The repository root: the nearest folder up from here whose package.json is this package. */
function repoRoot(): string {
  let d = __dirname;
  for (;;) {
    const pj = path.join(d, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return d;
      } catch {
        // not ours, go on up
      }
    }
    const up = path.dirname(d);
    if (up === d) throw new Error(`no package.json of ${PACKAGE_NAME} above ${__dirname}`);
    d = up;
  }
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((p) => p && fs.existsSync(path.join(p, cmd)));
}

function built(buildDir: string): string | null {
  const bin = path.join(buildDir, 'lazyfs', 'lazyfs');
  return fs.existsSync(bin) && fs.existsSync(path.join(buildDir, 'libpcache', 'libpcache.so.0')) ? bin : null;
}

let cached: { ok: true; bin: string } | { ok: false; why: string } | null = null;

/**
 * Why LazyFS cannot run here (no root, no /dev/fuse, no fusermount3, no sources), or its binary.
 * Builds LazyFS once from <repo>/../shared/tools/lazyfs/build.sh into a cache OUTSIDE the
 * repository (LAZYFS_BUILD env or /var/tmp/carnitrack-lazyfs-build), reusing an existing build
 * (also the one `bash build.sh` leaves in /tmp/lazyfs-build). LAZYFS_BIN names a binary to use
 * as it is. A first build takes about 30 s (more when build.sh installs Debian packages): give
 * the hook that calls this a long timeout. The answer is remembered for the process.
 */
export function lazyFs(): { ok: true; bin: string } | { ok: false; why: string } {
  if (!cached) cached = findLazyFs();
  return cached;
}

function findLazyFs(): { ok: true; bin: string } | { ok: false; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: `LazyFS needs Linux with FUSE (this is ${process.platform})` };
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) return { ok: false, why: `LazyFS needs root to mount a FUSE file system (running as uid ${uid})` };
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { ok: false, why: 'LazyFS needs /dev/fuse (a container needs --device /dev/fuse --cap-add SYS_ADMIN)' };
  }
  const found = findBinary();
  // build.sh installs Debian's fuse3 (fusermount3) with the rest when it runs as root.
  if (found.ok && !onPath('fusermount3')) return { ok: false, why: 'LazyFS needs fusermount3 (Debian package fuse3)' };
  return found;
}

function findBinary(): { ok: true; bin: string } | { ok: false; why: string } {
  if (process.env.LAZYFS_BIN) {
    return fs.existsSync(process.env.LAZYFS_BIN)
      ? { ok: true, bin: process.env.LAZYFS_BIN }
      : { ok: false, why: `LAZYFS_BIN=${process.env.LAZYFS_BIN} does not exist` };
  }
  const buildDir = process.env.LAZYFS_BUILD ?? DEFAULT_BUILD;
  const ready = built(buildDir) ?? (process.env.LAZYFS_BUILD ? null : built(SHARED_DEFAULT_BUILD));
  if (ready && onPath('fusermount3')) return { ok: true, bin: ready };
  let script: string;
  try {
    script = path.join(repoRoot(), '..', 'shared', 'tools', 'lazyfs', 'build.sh');
  } catch (e) {
    return { ok: false, why: `no LazyFS build, and ${(e as Error).message}` };
  }
  if (!fs.existsSync(script)) return { ok: false, why: `no LazyFS build and no sources to build it from (${script} is missing)` };
  const r = spawnSync('bash', [script], { env: { ...process.env, LAZYFS_BUILD: buildDir }, encoding: 'utf8', timeout: 15 * 60_000 });
  const bin = built(buildDir);
  if (r.status !== 0 || !bin) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    return { ok: false, why: `building LazyFS with ${script} into ${buildDir} failed (${r.error?.message ?? `exit ${r.status}`}):\n${out}` };
  }
  return { ok: true, bin };
}

let probe: Promise<{ ok: true; bin: string } | { ok: false; why: string }> | null = null;

/**
 * `lazyFs()`, plus one trial mount (about 0.1 s, once per process): a container can have
 * /dev/fuse and root but not the right to mount (no CAP_SYS_ADMIN), and then a test must skip,
 * not fail. Only a refusal to mount counts as a reason; any other failure is thrown.
 */
export function lazyFsMountable(): Promise<{ ok: true; bin: string } | { ok: false; why: string }> {
  probe ??= (async () => {
    const lf = lazyFs();
    if (!lf.ok) return lf;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctlfs-probe-'));
    try {
      const m = await LazyFsMount.mount(dir, { cacheSize: '1mb' });
      await m.unmount();
      return lf;
    } catch (e) {
      const refused = /^.*(mount failed|Operation not permitted|Permission denied|fuse: device not found).*$/im.exec((e as Error).message);
      if (refused) return { ok: false, why: `LazyFS cannot mount here: ${refused[0].trim()}` };
      throw e;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  })();
  return probe;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True when `mnt` is a FUSE mount point now (from /proc/self/mountinfo). */
function isMounted(mnt: string): boolean {
  // mountinfo field 5 is the mount point (octal escapes for spaces: our temp paths have none).
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === mnt);
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, out: `${stdout}${stderr}`.trim() });
    });
  });
}

// What LazyFS logs once it has carried out each command (src/lazyfs/src/main.cpp, lazyfs.cpp).
const ANSWERS: [RegExp, RegExp][] = [
  [/^lazyfs::clear-cache$/, /cache is cleared\./],
  [/^lazyfs::cache-checkpoint$/, /checkpoint is done\./],
  [/^lazyfs::display-cache-usage$/, /cache usage \(%pages\) is [\d.]+%/],
  [/^lazyfs::unsynced-data-report$/, /report: all data blocks are synced!|report: total number of bytes un-fsynced/],
  [/^lazyfs::crash::/, /received: VALID crash fault/],
  [/^lazyfs::torn-(op|seq)::/, /configured successfully/],
];
const REFUSED = /received: INVALID|command unknown/;

/** Every mount not yet unmounted, for the exit hook. */
const live = new Set<LazyFsMount>();
let exitHook = false;

/**
 * One LazyFS mount: `dir/root` is the "disk", `dir/mnt` the mount point the application uses.
 * Its log (LazyFS's stdout, appended across remounts) is `dir/lazyfs.log`.
 */
export class LazyFsMount {
  readonly mnt: string;
  readonly root: string;
  readonly log: string;
  private readonly fifo: string;
  private readonly config: string;
  private child: ChildProcess | null = null;
  private exited = true;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly bin: string,
  ) {
    this.mnt = path.join(dir, 'mnt');
    this.root = path.join(dir, 'root');
    this.log = path.join(dir, 'lazyfs.log');
    this.fifo = path.join(dir, 'faults.fifo');
    this.config = path.join(dir, 'lazyfs.toml');
  }

  /**
   * Mounts a fresh LazyFS under `dir` (dir/root = the "disk", dir/mnt = the mount point).
   * `cacheSize` (default 256mb, allocated at mount) must stay well above what one mount reads and
   * writes: a full cache writes straight through, silently durable (README gotcha). Check with
   * `cacheUsage()`. Keep `dir` short: FIFO commands naming files under it must fit in 99 bytes.
   */
  static async mount(dir: string, opts: { cacheSize?: string } = {}): Promise<LazyFsMount> {
    const lf = lazyFs();
    if (!lf.ok) throw new Error(lf.why);
    const m = new LazyFsMount(path.resolve(dir), lf.bin);
    fs.mkdirSync(m.root, { recursive: true });
    fs.mkdirSync(m.mnt, { recursive: true });
    // fifo_path_completed stays unset (LazyFS would block opening it); logfile="" because a
    // logfile is truncated at every start: stdout is appended to dir/lazyfs.log instead.
    fs.writeFileSync(
      m.config,
      [
        '[faults]',
        `fifo_path="${m.fifo}"`,
        '[cache]',
        'apply_eviction=false',
        '[cache.simple]',
        `custom_size="${opts.cacheSize ?? '256mb'}"`,
        'blocks_per_page=1',
        '[filesystem]',
        'log_all_operations=false',
        'logfile=""',
        '',
      ].join('\n'),
    );
    if (!exitHook) {
      exitHook = true;
      // Last resort when the test process ends without cleanup: no LazyFS or mount left behind.
      process.on('exit', () => {
        for (const x of live) x.killNow();
      });
    }
    live.add(m);
    try {
      await m.start();
    } catch (e) {
      await m.unmount().catch(() => undefined);
      throw e;
    }
    return m;
  }

  /** False once LazyFS has exited (a fault kills it; the mount then answers ENOTCONN). */
  get alive(): boolean {
    return !this.exited;
  }

  /** LazyFS's process id while it runs. */
  get pid(): number | undefined {
    return this.exited ? undefined : this.child?.pid;
  }

  private logSize(): number {
    try {
      return fs.statSync(this.log).size;
    } catch {
      return 0;
    }
  }

  private logSince(offset: number): string {
    const fd = fs.openSync(this.log, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - offset));
      fs.readSync(fd, buf, 0, buf.length, offset);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Waits for `re` in the log written after `offset`; fails on `refused`, on LazyFS's exit, or after `timeoutMs`. */
  private async awaitLog(offset: number, re: RegExp, what: string, timeoutMs: number, refused?: RegExp): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const text = this.logSince(offset);
      if (re.test(text)) return text;
      if (refused?.test(text)) throw new Error(`LazyFS refused ${what}:\n${text.trim()}`);
      if (this.exited) throw new Error(`LazyFS exited while waiting for ${what}:\n${text.trim()}`);
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} in ${this.log}:\n${text.trim()}`);
      await sleep(5);
    }
  }

  private async start(): Promise<void> {
    if (isMounted(this.mnt)) throw new Error(`${this.mnt} is mounted already`);
    const offset = this.logSize();
    const out = fs.openSync(this.log, 'a');
    try {
      // Foreground (-f) so this is LazyFS's own pid; at most 10 arguments reach FUSE. The config
      // path is relative to cwd (dir): LazyFS ignores a --config-path containing "-o" in any
      // case (strcasestr), and then fails on config/default.toml; a mkdtemp suffix starting
      // with o or O did that.
      this.child = spawn(this.bin, [this.mnt, '--config-path', path.basename(this.config), '-o', `modules=subdir,subdir=${this.root}`, '-f'], {
        cwd: this.dir,
        stdio: ['ignore', out, out],
      });
    } finally {
      fs.closeSync(out);
    }
    this.exited = false;
    const child = this.child;
    child.on('exit', () => {
      if (this.child === child) this.exited = true;
    });
    child.on('error', () => {
      if (this.child === child) this.exited = true;
    });
    await this.awaitLog(offset, /waiting for fault commands/, 'LazyFS to start', 20_000);
    const until = Date.now() + 10_000;
    while (!isMounted(this.mnt)) {
      if (this.exited) throw new Error(`LazyFS exited before mounting ${this.mnt}:\n${this.logSince(offset).trim()}`);
      if (Date.now() > until) throw new Error(`${this.mnt} not mounted 10 s after LazyFS started:\n${this.logSince(offset).trim()}`);
      await sleep(10);
    }
  }

  /**
   * One FIFO command; waits for LazyFS's answer in its log (bounded in time). Commands are sent
   * one at a time (two back to back can arrive as one read and both be lost). Fails at once when
   * LazyFS is not running (the FIFO is opened O_NONBLOCK: no reader = ENXIO, never a hang).
   */
  command(cmd: string, timeoutMs = 5000): Promise<string> {
    const next = this.queue.then(() => this.send(cmd, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async send(cmd: string, timeoutMs: number): Promise<string> {
    if (cmd.includes('\n')) throw new Error('a LazyFS command is one line');
    if (Buffer.byteLength(cmd) > MAX_COMMAND) throw new Error(`LazyFS command over ${MAX_COMMAND} bytes (LazyFS would cut it in two): ${cmd}`);
    if (this.exited) throw new Error(`LazyFS is not running; cannot send ${cmd}`);
    const answer = ANSWERS.find(([c]) => c.test(cmd))?.[1] ?? /received '|command unknown/;
    const offset = this.logSize();
    let fd: number;
    try {
      fd = fs.openSync(this.fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      throw new Error(`LazyFS is not reading its FIFO ${this.fifo} (${(e as Error).message}); cannot send ${cmd}`, { cause: e });
    }
    try {
      fs.writeSync(fd, `${cmd}\n`);
    } finally {
      fs.closeSync(fd);
    }
    return this.awaitLog(offset, answer, `the answer to ${cmd}`, timeoutMs, REFUSED);
  }

  /** Drop everything not fsynced (the power cut). */
  async clearCache(): Promise<void> {
    await this.command('lazyfs::clear-cache');
  }

  /** Write everything unsynced to root/ (no fsync). */
  async checkpoint(): Promise<void> {
    await this.command('lazyfs::cache-checkpoint');
  }

  /** The share of LazyFS's cache pages in use, in percent. */
  async cacheUsage(): Promise<number> {
    const text = await this.command('lazyfs::display-cache-usage');
    return Number(/cache usage \(%pages\) is ([\d.]+)%/.exec(text)![1]);
  }

  /** LazyFS kills itself before/after the next OP on a path matching the regex (the disk vanishes). */
  async crashOn(timing: 'before' | 'after', op: string, rgx: string): Promise<void> {
    await this.command(`lazyfs::crash::timing=${timing}::op=${op}::from_rgx=${rgx}`);
  }

  /**
   * The next write to `file` (a path under root/; a relative one is taken under root/) is torn:
   * only the `persist` parts (1-based) of `parts` land; LazyFS dies.
   */
  async tornWrite(file: string, parts: number, persist: number[]): Promise<void> {
    const f = path.isAbsolute(file) ? file : path.join(this.root, file);
    await this.command(`lazyfs::torn-op::file=${f}::parts=${parts}::persist=${persist.join(',')}`);
  }

  /**
   * fusermount3 -u (waits for LazyFS to exit). Retries while the mount is busy (processes still
   * closing files), then detaches it lazily; a LazyFS that does not exit is killed. Unmounting
   * drops LazyFS's unsynced data too (nothing is flushed at exit).
   */
  async unmount(): Promise<void> {
    const until = Date.now() + 5000;
    while (isMounted(this.mnt)) {
      const r = await run('fusermount3', ['-u', this.mnt], 5000);
      if (r.code === 0 || !isMounted(this.mnt)) break;
      if (Date.now() > until) {
        await run('fusermount3', ['-u', '-z', this.mnt], 5000);
        break;
      }
      await sleep(50);
    }
    const child = this.child;
    if (child && !this.exited) {
      const exitBy = Date.now() + 5000;
      while (!this.exited && Date.now() < exitBy) await sleep(10);
      if (!this.exited) {
        child.kill('SIGKILL');
        const killBy = Date.now() + 5000;
        while (!this.exited && Date.now() < killBy) await sleep(10);
      }
    }
    this.child = null;
    this.exited = true;
    live.delete(this);
  }

  /** Mounts LazyFS again over the same root/ (after `unmount()`). */
  async remount(): Promise<void> {
    if (this.alive || isMounted(this.mnt)) throw new Error(`unmount ${this.mnt} before remounting it`);
    live.add(this);
    try {
      await this.start();
    } catch (e) {
      await this.unmount().catch(() => undefined);
      throw e;
    }
  }

  /** Synchronous last resort (process exit): kill LazyFS, detach the mount. */
  private killNow(): void {
    if (this.child && !this.exited) this.child.kill('SIGKILL');
    if (isMounted(this.mnt)) spawnSync('fusermount3', ['-u', '-z', this.mnt], { timeout: 5000 });
  }
}
