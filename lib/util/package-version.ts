import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * This package's version: from the nearest package.json above `from`, the package's own (Node
 * finds a module's package scope the same way), so it does not depend on how deep the file
 * sits (lib/ in a checkout, dist/lib/ in the package). '0.0.0' when none can be read.
 */
export function packageVersion(from: string = __dirname): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      try {
        const version = (JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: unknown }).version;
        return typeof version === 'string' ? version : '0.0.0';
      } catch {
        return '0.0.0';
      }
    }
    if (path.dirname(dir) === dir) return '0.0.0';
  }
}
