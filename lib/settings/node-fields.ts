/**
 * Every setting of every CarniTrack node: its default, its limits and its choices, in one
 * place. The runtime's settings parsers read them here, and so does the editor build
 * (scripts/editor-forms.js loads the compiled module), which gives each dialog field its
 * initial value, its range check and its drop-down; test/unit/node-fields.test.ts checks that
 * both ends agree with it. How a dialog lays the fields out (rows, icons, widths, units) is the
 * editor's own, in nodes/<type>/<type>.form.json.
 *
 * `default` is what an empty field means at run time (also an unset `${VAR}`, which Node-RED
 * leaves as it is). `newNode` is what a node dragged from the palette starts with, where that
 * is not the default: an environment variable reference, or a value that flows saved before
 * the setting existed must not get.
 */

export interface NumberSetting {
  readonly kind: 'number';
  readonly default: number;
  readonly min: number;
  readonly max: number;
  /** Whole numbers only. */
  readonly integer?: true;
  readonly newNode?: string;
}

/** A drop-down's option: its value (labelled by the locale's `<type>.<field>.<value>`), or a value with a fixed label. */
export type Choice = string | { readonly value: string; readonly label: string };

export interface ChoiceSetting {
  readonly kind: 'choice';
  readonly default: string;
  readonly choices: readonly Choice[];
  readonly newNode?: string;
}

export interface TextSetting {
  readonly kind: 'text';
  readonly default: string;
  /** The dialog refuses an empty field. */
  readonly required?: true;
  readonly newNode?: string;
}

export interface FlagSetting {
  readonly kind: 'flag';
  readonly default: boolean;
}

export type Setting = NumberSetting | ChoiceSetting | TextSetting | FlagSetting;

/** A node's settings by field name. */
export type NodeSettings = Readonly<Record<string, Setting>>;

/** The settings of `S` that are numbers. */
export type NumberKeys<S extends NodeSettings> = { [K in keyof S]: S[K] extends NumberSetting ? K : never }[keyof S] & string;

/** The value of a choice, whether it is written bare or with a label. */
export function choiceValue(c: Choice): string {
  return typeof c === 'string' ? c : c.value;
}

const num = (d: number, min: number, max: number, more: { integer?: true; newNode?: string } = {}): NumberSetting => ({
  kind: 'number',
  default: d,
  min,
  max,
  ...more,
});
const whole = (d: number, min: number, max: number, newNode?: string): NumberSetting =>
  num(d, min, max, newNode === undefined ? { integer: true } : { integer: true, newNode });
const text = (d: string, more: { required?: true; newNode?: string } = {}): TextSetting => ({ kind: 'text', default: d, ...more });

/** From shared/DP401.md; numbers of seconds as a person types them in the editor. */
export const DP401_IN_SETTINGS = {
  port: whole(3001, 1, 65535, '${TCP_PORT}'),
  bindAddress: text('0.0.0.0'),
  ackMode: { kind: 'choice', default: 'store', choices: ['store', 'receipt'] },
  weightUnit: {
    kind: 'choice',
    default: '1',
    choices: [
      { value: '0.1', label: '0.1 g' },
      { value: '1', label: '1 g' },
      { value: '10', label: '10 g' },
      { value: '100', label: '100 g' },
    ],
  },
  maxCapacityKg: num(100, 0, 100000),
  /** Empty: the gateway's own time zone. */
  timeZone: text(''),
  encoding: text('windows-1254', { required: true }),
  duplicateWindowS: num(5, 0, 3600),
  staleAfterS: num(45, 0.1, 86400),
  timeoutAfterS: num(90, 0.2, 86400),
  idleAfterS: num(300, 0.1, 604800),
  registrationTimeoutS: num(30, 0, 86400),
  missingAfterMin: num(2, 0, 10080),
  allowedSources: text(''),
  maxConnections: whole(32, 1, 10000),
  maxLineBytes: whole(4096, 256, 1048576),
  addressMap: text(''),
} as const satisfies NodeSettings;

export const CARNITRACK_SITE_SETTINGS = {
  siteId: text('site-01', { newNode: '${EDGE_SITE_ID}' }),
  /** Empty: the site id. */
  siteName: text('', { newNode: '${EDGE_SITE_NAME}' }),
  databasePath: text('./data/carnitrack.db', { newNode: '${DATABASE_PATH}' }),
  durability: { kind: 'choice', default: 'full', choices: ['full', 'normal'] },
} as const satisfies NodeSettings;

export const SESSION_CACHE_SETTINGS = {
  expiryHours: num(12, 0.01, 720),
  liveRate: num(20, 0, 1000),
} as const satisfies NodeSettings;

export const EVENT_STORE_SETTINGS = {
  batchSize: whole(100, 1, 10000),
  window: whole(1000, 1, 100000),
  ackTimeoutS: num(30, 0.1, 86400),
  retentionDays: num(30, 1, 3650),
  minFreeDiskMB: num(500, 0, 10000000),
  maxPendingAgeMin: num(60, 1, 525600),
  statusIntervalS: num(10, 1, 3600),
} as const satisfies NodeSettings;

export const CLOUD_LINK_SETTINGS = {
  /** CLOUD_WS_URL in the process environment comes before this default. */
  url: text('wss://api.carnitrack.cloud/edge/ws', { newNode: '${CLOUD_WS_URL}' }),
  keepAliveS: num(30, 0.1, 3600),
  pongTimeoutS: num(10, 0.1, 600),
  minBackoffS: num(1, 0.01, 3600),
  maxBackoffS: num(60, 0.01, 86400),
  handshakeTimeoutS: num(10, 0.1, 600),
  maxFrameKB: whole(1024, 1, 65536),
  /** New nodes group the acks on output 3; a flow saved before the setting keeps one message per ack. */
  ackOutput: { kind: 'choice', default: 'each', choices: ['grouped', 'each'], newNode: 'grouped' },
} as const satisfies NodeSettings;

export const PLU_OUT_SETTINGS = {
  /** PLU_OUTPUT_DIR in the process environment comes before this default. */
  outputDir: text('./generated', { newNode: '${PLU_OUTPUT_DIR}' }),
  filename: text('plu.txt'),
  encoding: text('windows-1254', { required: true }),
  truncateNames: { kind: 'flag', default: false },
  template: text(''),
  debounceS: num(2, 0, 3600),
} as const satisfies NodeSettings;

/** By node type: what the editor build reads. */
export const NODE_SETTINGS: Readonly<Record<string, NodeSettings>> = {
  'dp401-in': DP401_IN_SETTINGS,
  'carnitrack-site': CARNITRACK_SITE_SETTINGS,
  'session-cache': SESSION_CACHE_SETTINGS,
  'event-store': EVENT_STORE_SETTINGS,
  'cloud-link': CLOUD_LINK_SETTINGS,
  'plu-out': PLU_OUT_SETTINGS,
};
