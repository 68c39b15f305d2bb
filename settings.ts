/**
 * Node-RED settings for running this project from its own folder (`npm start`).
 * Compiled to dist/settings.js; paths are relative to the project root.
 * Environment: HTTP_PORT (editor port, default 1880), HTTP_HOST (default 127.0.0.1),
 * NODE_RED_USER_DIR (default ./data/node-red), LOG_LEVEL (default info).
 */
import * as path from 'node:path';

const projectRoot = path.resolve(__dirname, '..');
const env = (name: string, fallback: string): string => {
  const v = process.env[name];
  return v === undefined || v.trim() === '' ? fallback : v.trim();
};

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
const logLevel = env('LOG_LEVEL', 'info').toLowerCase();

export = {
  uiPort: Number(env('HTTP_PORT', '1880')),
  uiHost: env('HTTP_HOST', '127.0.0.1'),
  userDir: path.resolve(projectRoot, env('NODE_RED_USER_DIR', 'data/node-red')),
  flowFile: 'flows.json',
  flowFilePretty: true,
  // Load this package's nodes from the project folder, as if installed from the palette.
  nodesDir: [projectRoot],
  logging: {
    console: {
      level: logLevels.includes(logLevel) ? logLevel : 'info',
      metrics: false,
      audit: false,
    },
  },
  editorTheme: {
    projects: { enabled: false },
  },
};
