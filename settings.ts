/**
 * Node-RED settings for CarniTrack Edge, compiled to dist/settings.js (`npm start`, Docker).
 *
 * Environment (names as in the CarniTrack Edge README):
 *   HTTP_PORT      editor and admin API port (default 1880)
 *   HTTP_HOST      editor bind address; only used when ADMIN_USER is set, else 127.0.0.1
 *   ADMIN_USER, ADMIN_PASSWORD_HASH   editor login (hash from `node-red-admin hash-pw`)
 *   NODE_RED_CREDENTIAL_SECRET        key for the encrypted credentials file; if unset, one is
 *                  generated once and kept in <user dir>/.credential-secret (mode 0600)
 *   NODE_RED_USER_DIR   flows, credentials, database (default ./data/node-red)
 *   LOG_LEVEL      fatal, error, warn, info, debug, trace (default info)
 * and, read by the flow: EDGE_SITE_ID, EDGE_SITE_NAME, CLOUD_WS_URL, CLOUD_API_KEY, TCP_PORT,
 * DATABASE_PATH, PLU_OUTPUT_DIR.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const PACKAGE_NAME = '@carnitrack/node-red-edge';

const env = (name: string, fallback: string): string => {
  const v = process.env[name];
  return v === undefined || v.trim() === '' ? fallback : v.trim();
};
const say = (text: string): void => {
  process.stdout.write(`[carnitrack settings] ${text}\n`);
};

/** The project folder when run from a checkout (npm start); absent in an installed tree. */
function projectFolder(): string | null {
  const root = path.resolve(__dirname, '..');
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name?: string };
    return pkg.name === PACKAGE_NAME ? root : null;
  } catch {
    return null;
  }
}

const project = projectFolder();
const base = project ?? process.cwd();
const userDir = path.resolve(base, env('NODE_RED_USER_DIR', 'data/node-red'));
fs.mkdirSync(userDir, { recursive: true });

/** The default flow: from the checkout, or from the installed package's examples. */
function defaultFlow(): string | null {
  if (project) return path.join(project, 'flows', 'carnitrack-default.json');
  try {
    const pkg = require.resolve(`${PACKAGE_NAME}/package.json`, { paths: [__dirname, process.cwd()] });
    return path.join(path.dirname(pkg), 'examples', 'carnitrack-default.json');
  } catch {
    return null;
  }
}

// A first start gets the default flow; after that the flow file is the engineer's.
const flowFile = path.join(userDir, 'flows.json');
const seed = defaultFlow();
if (!fs.existsSync(flowFile) && seed && fs.existsSync(seed)) {
  fs.copyFileSync(seed, flowFile);
  say(`first start: ${flowFile} seeded with the default flow`);
}

function credentialSecret(): string {
  const fromEnv = process.env.NODE_RED_CREDENTIAL_SECRET;
  if (fromEnv) return fromEnv;
  const file = path.join(userDir, '.credential-secret');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const secret = crypto.randomBytes(32).toString('hex');
    fs.writeFileSync(file, secret + '\n', { mode: 0o600 });
    say(`NODE_RED_CREDENTIAL_SECRET is not set: generated one and stored it in ${file} (mode 0600). Back it up with the flows, or set the variable.`);
    return secret;
  }
}

function adminAuth(): object | undefined {
  const user = env('ADMIN_USER', '');
  const hash = env('ADMIN_PASSWORD_HASH', '');
  if (!user && !hash) return undefined;
  if (!user || !/^\$2[aby]\$\d\d\$.{53}$/.test(hash)) {
    throw new Error('ADMIN_USER and ADMIN_PASSWORD_HASH go together; the hash is bcrypt, as made by `node-red-admin hash-pw`');
  }
  return { type: 'credentials', users: [{ username: user, password: hash, permissions: '*' }] };
}

const auth = adminAuth();
const host = auth ? env('HTTP_HOST', '0.0.0.0') : '127.0.0.1';
if (!auth) say('ADMIN_USER is not set: the editor has no login, so it listens on 127.0.0.1 only.');

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
const logLevel = env('LOG_LEVEL', 'info').toLowerCase();

export = {
  uiPort: Number(env('HTTP_PORT', '1880')),
  uiHost: host,
  userDir,
  flowFile: 'flows.json',
  flowFilePretty: true,
  credentialSecret: credentialSecret(),
  adminAuth: auth,
  // From a checkout, load this package's nodes from the project folder as if installed.
  nodesDir: project ? [project] : [],
  logging: {
    console: { level: logLevels.includes(logLevel) ? logLevel : 'info', metrics: false, audit: false },
  },
  // A gateway has no internet: no telemetry, no update check, no consent dialog.
  telemetry: { enabled: false, updateNotification: false },
  editorTheme: {
    page: { title: 'CarniTrack Edge' },
    header: { title: 'CarniTrack Edge' },
    projects: { enabled: false },
    // No internet on a gateway: no remote node catalogue for the palette manager.
    palette: { catalogues: [] },
    tours: false,
  },
};
