import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lazyFsMountable, LazyFsMount } from '../helpers/lazyfs';

// The rig the power-cut test stands on: if LazyFS kept unsynced data over a cut, that test
// could not fail.
describe('LazyFS helper: a power cut drops what was not fsynced', function () {
  this.timeout(60_000);
  let dir: string;
  let m: LazyFsMount | null = null;

  before(async function () {
    this.timeout(20 * 60_000); // a first run builds LazyFS
    const lf = await lazyFsMountable();
    if (!lf.ok) {
      console.log(`      skipped: ${lf.why}`);
      this.skip();
    }
  });

  beforeEach(() => {
    // "-o" in the path on purpose: LazyFS once took such a --config-path for a mount option.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctlfs-o'));
  });

  afterEach(async () => {
    await m?.unmount();
    m = null;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the fsynced file and loses the unsynced one across clear-cache and a remount', async () => {
    m = await LazyFsMount.mount(dir, { cacheSize: '8mb' });
    const synced = path.join(m.mnt, 'synced');
    const fd = fs.openSync(synced, 'w');
    fs.writeSync(fd, 'kept');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.writeFileSync(path.join(m.mnt, 'unsynced'), 'lost');
    assert.equal(fs.readFileSync(path.join(m.mnt, 'unsynced'), 'utf8'), 'lost');
    assert.ok((await m.cacheUsage()) < 1);
    await m.clearCache();
    await m.unmount();
    await m.remount();
    assert.equal(fs.readFileSync(synced, 'utf8'), 'kept');
    // Metadata is not cached: the file is there, its bytes are not.
    assert.equal(fs.readFileSync(path.join(m.mnt, 'unsynced'), 'utf8'), '');
    assert.equal(fs.readFileSync(path.join(m.root, 'synced'), 'utf8'), 'kept');
  });

  it('a crash fault kills LazyFS; a command then fails at once and the mount still comes off', async () => {
    m = await LazyFsMount.mount(dir, { cacheSize: '8mb' });
    await m.crashOn('before', 'fsync', 'doomed');
    const fd = fs.openSync(path.join(m.mnt, 'doomed'), 'w');
    fs.writeSync(fd, 'x');
    assert.throws(() => fs.fsyncSync(fd));
    assert.throws(() => fs.closeSync(fd), /ENOTCONN/);
    const t0 = Date.now();
    while (m.alive && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(m.alive, false);
    await assert.rejects(m.clearCache(), /not running|not reading/);
    await m.unmount();
    await m.remount();
    assert.equal(fs.readFileSync(path.join(m.mnt, 'doomed'), 'utf8'), '');
  });
});
