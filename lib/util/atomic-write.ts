import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Replaces `file` so that a reader sees either the old or the new content, never part of
 * one: write a temp file beside it, fsync, keep the previous file as `<file>.bak`, rename
 * the temp over the file, fsync the folder. The file never goes missing in between.
 */
export function writeFileAtomic(file: string, bytes: Buffer, keepBackup = true): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    if (keepBackup && fs.existsSync(file)) {
      const bakTmp = `${tmp}.bak`;
      fs.copyFileSync(file, bakTmp);
      fs.renameSync(bakTmp, `${file}.bak`);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* some file systems cannot fsync a folder; the rename is still atomic */
  }
}

/**
 * The same replacement without blocking the event loop (the write and both fsyncs run in
 * libuv's thread pool): for files written while scales are being served, where an fsync on a
 * slow SD card must not hold up their OKs.
 */
export async function writeFileAtomicAsync(file: string, bytes: Buffer, keepBackup = true): Promise<void> {
  const dir = path.dirname(file);
  await fs.promises.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await fs.promises.open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (keepBackup) {
      const bakTmp = `${tmp}.bak`;
      const copied = await fs.promises.copyFile(file, bakTmp).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return false;
          throw err;
        },
      );
      if (copied) await fs.promises.rename(bakTmp, `${file}.bak`);
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    await fs.promises.rm(`${tmp}.bak`, { force: true });
    throw err;
  }
  try {
    const dh = await fs.promises.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* some file systems cannot fsync a folder; the rename is still atomic */
  }
}
