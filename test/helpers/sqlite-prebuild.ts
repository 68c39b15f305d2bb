import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The tests that install the package (the palette install, the Dockerfile's steps) run `npm ci`
 * and `npm install` in fresh folders, and each of those compiles better-sqlite3 from source
 * (about a minute on 2 cores: prebuilt binaries cannot be downloaded here). This packs the
 * binary that this checkout's `npm ci` already compiled (same version, same Node ABI) as a
 * prebuild-install "local prebuild" and returns the npm environment that makes those installs
 * take it instead of compiling it again. What those tests check (the install, the files, the
 * gateway running) is unchanged; that better-sqlite3 compiles here is what `npm ci` itself
 * showed. An install of another version or for another Node (Node 22 in the pack test) finds
 * no matching file and compiles as before.
 */
export function sqlitePrebuildEnv(): Record<string, string> {
  const pkgDir = path.dirname(require.resolve('better-sqlite3/package.json'));
  const binary = path.join(pkgDir, 'build', 'Release', 'better_sqlite3.node');
  if (!fs.existsSync(binary)) return {};
  const { version } = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const dir = path.join(os.homedir(), '.cache', 'carnitrack-test', 'prebuilds');
  // prebuild-install's file name: {name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz
  const file = path.join(dir, `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`);
  const stamp = `${file}.source`;
  const source = `${binary} ${fs.statSync(binary).mtimeMs}`;
  if (!fs.existsSync(file) || (fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8') : '') !== source) {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-czf', `${file}.tmp`, '-C', pkgDir, 'build/Release/better_sqlite3.node']);
    fs.renameSync(`${file}.tmp`, file);
    fs.writeFileSync(stamp, source);
  }
  return { npm_config_better_sqlite3_local_prebuilds: dir };
}
