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
