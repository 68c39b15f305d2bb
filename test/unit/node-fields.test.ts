import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NODE_SETTINGS, choiceValue, type NodeSettings, type Setting } from '../../lib/settings/node-fields';
import { parseDp401Settings } from '../../lib/dp401/settings';
import { parseSiteSettings } from '../../lib/site/site-settings';
import { parseCloudLinkSettings } from '../../lib/cloud/settings';
import { parseEventStoreSettings } from '../../lib/store/settings';
import { parseSessionCacheSettings } from '../../lib/sessions/settings';
import { parsePluOutSettings } from '../../lib/plu/settings';
import type { FieldError } from '../../lib/util/config-fields';

/**
 * lib/settings/node-fields.ts is the one source of each setting's default, limits and choices:
 * the built editor files must carry exactly what it says, and every runtime parser must take
 * its defaults and hold to its limits and choices. The parsers are probed from outside (what a
 * flow's config becomes), so this holds whether a parser reads the source or keeps a copy.
 */

const root = path.resolve(__dirname, '..', '..', '..');
const userDir = '/srv/node-red';

/** A path below the user directory as a person types it in the dialog. */
const asTyped = (p: string): string => `./${path.relative(userDir, p)}`;

interface Parsed {
  settings?: unknown;
  errors: FieldError[];
}

/**
 * Each node's parser, and where each setting shows in what it returns, in the editor's units
 * (null: an empty field's value depends on the machine, e.g. the gateway's time zone).
 */
const nodes: Record<string, { parse: (raw: Record<string, unknown>) => Parsed; shown: Record<string, ((s: never) => unknown) | null> }> = {
  'dp401-in': {
    parse: (raw) => parseDp401Settings(raw),
    shown: {
      port: (s: { port: number }) => s.port,
      bindAddress: (s: { bindAddress: string }) => s.bindAddress,
      ackMode: (s: { ackMode: string }) => s.ackMode,
      weightUnit: (s: { weightUnit: string }) => s.weightUnit,
      maxCapacityKg: (s: { maxCapacityGrams: number }) => s.maxCapacityGrams / 1000,
      timeZone: null,
      encoding: (s: { encoding: string }) => s.encoding,
      duplicateWindowS: (s: { duplicateWindowMs: number }) => s.duplicateWindowMs / 1000,
      staleAfterS: (s: { staleAfterMs: number }) => s.staleAfterMs / 1000,
      timeoutAfterS: (s: { timeoutAfterMs: number }) => s.timeoutAfterMs / 1000,
      idleAfterS: (s: { idleAfterMs: number }) => s.idleAfterMs / 1000,
      registrationTimeoutS: (s: { registrationTimeoutMs: number }) => s.registrationTimeoutMs / 1000,
      missingAfterMin: (s: { missingAfterMs: number }) => s.missingAfterMs / 60_000,
      allowedSources: (s: { allowedSources: string[] }) => s.allowedSources.join(', '),
      maxConnections: (s: { maxConnections: number }) => s.maxConnections,
      maxLineBytes: (s: { maxLineBytes: number }) => s.maxLineBytes,
      addressMap: (s: { addressMap: Map<string, string> }) => [...s.addressMap].map(([a, d]) => `${a}=${d}`).join('\n'),
    },
  },
  'carnitrack-site': {
    parse: (raw) => parseSiteSettings(raw, userDir),
    shown: {
      siteId: (s: { siteId: string }) => s.siteId,
      siteName: null, // empty: the site id
      databasePath: (s: { databaseFile: string }) => asTyped(s.databaseFile),
      durability: (s: { durability: string }) => s.durability,
    },
  },
  'session-cache': {
    parse: (raw) => parseSessionCacheSettings(raw),
    shown: { expiryHours: (s: { expiryHours: number }) => s.expiryHours, liveRate: (s: { liveRate: number }) => s.liveRate },
  },
  'event-store': {
    parse: (raw) => parseEventStoreSettings(raw),
    shown: Object.fromEntries(Object.keys(NODE_SETTINGS['event-store']).map((k) => [k, (s: Record<string, unknown>) => s[k]])),
  },
  'cloud-link': {
    parse: (raw) => parseCloudLinkSettings(raw, {}),
    shown: Object.fromEntries(Object.keys(NODE_SETTINGS['cloud-link']).map((k) => [k, (s: Record<string, unknown>) => s[k]])),
  },
  'plu-out': {
    parse: (raw) => parsePluOutSettings(raw, userDir, {}),
    shown: {
      outputDir: (s: { file: string }) => asTyped(path.dirname(s.file)),
      filename: (s: { filename: string }) => s.filename,
      encoding: (s: { format: { encoding: string } }) => s.format.encoding,
      truncateNames: (s: { format: { truncateNames: boolean } }) => s.format.truncateNames,
      template: (s: { format: { template: unknown[] } }) => (s.format.template.length ? s.format.template : ''),
      debounceS: (s: { debounceMs: number }) => s.debounceMs / 1000,
    },
  },
};

/** The range error of `field`, if any (other checks, like timeout above stale, are not the range's). */
const rangeError = (errors: FieldError[], field: string): FieldError | undefined =>
  errors.find((e) => e.field === field && /must be a (whole )?number from/.test(e.message));

function numberCases(s: Extract<Setting, { kind: 'number' }>): Array<[value: number, ok: boolean]> {
  const step = s.integer ? 1 : 1e-6;
  const cases: Array<[number, boolean]> = [
    [s.min, true],
    [s.max, true],
    [s.min - step, false],
    [s.max + step, false],
  ];
  // Whole numbers only, or not.
  cases.push([s.min + 0.5, !s.integer]);
  return cases;
}

describe('one source for each setting (lib/settings/node-fields.ts)', () => {
  it('has a parser for every node with settings, and says where each setting shows in it', () => {
    assert.deepEqual(Object.keys(nodes).sort(), Object.keys(NODE_SETTINGS).sort());
    for (const [type, settings] of Object.entries(NODE_SETTINGS)) assert.deepEqual(Object.keys(nodes[type].shown).sort(), Object.keys(settings).sort(), type);
  });

  it('the built editor files carry each setting as the source says, and every dialog field is a setting', () => {
    for (const [type, settings] of Object.entries(NODE_SETTINGS)) {
      const html = fs.readFileSync(path.join(root, 'dist', 'nodes', type, `${type}.html`), 'utf8');
      const m = new RegExp(`window\\.CarniTrackEditor\\.forms\\[${JSON.stringify(type)}\\] = (\\{.*\\});`).exec(html);
      assert.ok(m, `${type}: its editor file has the fields' settings`);
      const fields = JSON.parse(m[1]) as Record<
        string,
        { value?: unknown; default?: unknown; number?: unknown[]; choices?: unknown; required?: boolean; config?: string }
      >;
      for (const [key, s] of Object.entries(settings as NodeSettings)) {
        const f = fields[key];
        assert.ok(f, `${type}.${key} is in the editor`);
        assert.equal(f.value, 'newNode' in s ? s.newNode : s.default, `${type}.${key}: a new node's value`);
        assert.equal(f.default ?? f.value, s.default, `${type}.${key}: what empty means`);
        if (s.kind === 'number') assert.deepEqual(f.number, s.integer ? [s.min, s.max, true] : [s.min, s.max], `${type}.${key}: limits`);
        else assert.equal(f.number, undefined);
        assert.deepEqual(f.choices, s.kind === 'choice' ? s.choices : undefined, `${type}.${key}: choices`);
        assert.equal(f.required, s.kind === 'text' && s.required ? true : undefined, `${type}.${key}: required`);
      }
      for (const [key, f] of Object.entries(fields))
        assert.ok(key in settings || f.config, `${type}.${key}: a dialog field that is neither a setting nor a config node`);
    }
  });

  it("every runtime parser takes the source's default for an empty field", () => {
    for (const [type, settings] of Object.entries(NODE_SETTINGS)) {
      const { settings: parsed, errors } = nodes[type].parse({});
      assert.deepEqual(errors, [], type);
      for (const [key, s] of Object.entries(settings as NodeSettings)) {
        const shown = nodes[type].shown[key];
        if (shown) assert.deepEqual((shown as (p: unknown) => unknown)(parsed), s.default, `${type}.${key}`);
      }
      // An unset ${VAR} a new node starts with means the default too.
      const refs = Object.fromEntries(
        Object.entries(settings as NodeSettings).flatMap(([k, s]) => ('newNode' in s && /^\$\{/.test(String(s.newNode)) ? [[k, s.newNode]] : [])),
      );
      const fromRefs = nodes[type].parse(refs);
      assert.deepEqual(fromRefs.errors, [], `${type} with ${JSON.stringify(refs)}`);
      for (const k of Object.keys(refs)) {
        const shown = nodes[type].shown[k];
        if (shown)
          assert.deepEqual((shown as (p: unknown) => unknown)(fromRefs.settings), (settings as NodeSettings)[k].default, `${type}.${k} = ${String(refs[k])}`);
      }
    }
  });

  it("every runtime parser holds a number to the source's limits, whole numbers where it says so", () => {
    let probed = 0;
    for (const [type, settings] of Object.entries(NODE_SETTINGS)) {
      for (const [key, s] of Object.entries(settings as NodeSettings)) {
        if (s.kind !== 'number') continue;
        for (const [value, ok] of numberCases(s)) {
          const { errors } = nodes[type].parse({ [key]: String(value) });
          assert.equal(rangeError(errors, key) === undefined, ok, `${type}.${key} = ${value} should be ${ok ? 'taken' : 'refused'}: ${JSON.stringify(errors)}`);
        }
        probed++;
      }
    }
    assert.ok(probed >= 24, `${probed} numeric settings`);
  });

  it("every runtime parser takes exactly the source's choices", () => {
    for (const [type, settings] of Object.entries(NODE_SETTINGS)) {
      for (const [key, s] of Object.entries(settings as NodeSettings)) {
        if (s.kind !== 'choice') continue;
        for (const c of s.choices) {
          const { settings: parsed, errors } = nodes[type].parse({ [key]: choiceValue(c) });
          assert.deepEqual(errors, [], `${type}.${key} = ${choiceValue(c)}`);
          assert.equal((nodes[type].shown[key] as (p: unknown) => unknown)(parsed), choiceValue(c));
        }
        const { errors } = nodes[type].parse({ [key]: 'no-such-choice' });
        assert.deepEqual(
          errors.map((e) => e.field),
          [key],
          `${type}.${key}: another value is refused`,
        );
      }
    }
  });
});
