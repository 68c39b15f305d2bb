import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { openDatabase, type SqliteDatabase } from '../../lib/db/database';
import { EventLog, SEARCH_STEP } from '../../lib/store/event-log';
import { CSV_HEADER, csvLine, csvRange } from '../../lib/store/csv-export';
import { tempDirs, taggedEvent } from '../helpers/temp';

/** Parses one CSV line as a spreadsheet would (RFC 4180 quotes). */
function cells(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      cur += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

describe('events as CSV (the export of a date range)', () => {
  const dirs = tempDirs();
  let db: SqliteDatabase;
  let log: EventLog;
  beforeEach(() => {
    db = openDatabase(path.join(dirs.make(), 'site.db'));
    log = new EventLog(db);
  });
  afterEach(() => {
    db.close();
    dirs.cleanup();
  });

  it('writes one line per weighing, quoting what needs it, and never lets a text become a spreadsheet formula', () => {
    const e = taggedEvent({
      productName: 'KIYMA, "özel"',
      operator: '=HYPERLINK("x")',
      pluCode: '00042',
      tareGrams: 250,
      receivedAt: '2026-12-01T08:00:00.000Z',
    });
    log.insertMany([e], 0);
    const [row] = log.recent();
    const header = CSV_HEADER.trimEnd().split(',');
    const line = csvLine(row);
    assert.ok(line.endsWith('\r\n'));
    const got = Object.fromEntries(cells(line.trimEnd()).map((v, i) => [header[i], v]));
    assert.equal(got.productName, 'KIYMA, "özel"');
    assert.equal(got.operator, `'=HYPERLINK("x")`);
    assert.equal(got.pluCode, '00042');
    assert.equal(got.weightGrams, String(e.weightGrams));
    assert.equal(got.tareGrams, '250');
    assert.equal(got.deviceId, 'SCALE-01');
    assert.equal(got.receivedAt, '2026-12-01T08:00:00.000Z');
    assert.equal(got.syncState, 'pending');
    assert.equal(got.localEventId, e.localEventId);
  });

  it('finds the weighings of a range oldest first across many steps of the table, and at most the bound', () => {
    const day = (d: number, h: number): string => new Date(Date.UTC(2026, 11, d, h)).toISOString();
    const events = Array.from({ length: SEARCH_STEP + 500 }, (_, i) => taggedEvent({ receivedAt: day(1 + Math.floor(i / 10_000), i % 24) }));
    log.insertMany(events, 0);
    const all = (from: string, to: string, max = Infinity): string[] => {
      const ids: string[] = [];
      for (const rows of log.receivedBetween(from, to, max)) ids.push(...rows.map((r) => r.localEventId));
      return ids;
    };
    const second = all(day(2, 0), day(3, 0));
    assert.deepEqual(
      second,
      events.slice(10_000, 20_000).map((e) => e.localEventId),
    );
    assert.equal(all(day(1, 0), day(4, 0), 12_345).length, 12_345);
    assert.deepEqual(all(day(5, 0), day(6, 0)), []);
  });

  it('reads the range from dates or times, 24 h by default, and names what it cannot read', () => {
    const now = Date.UTC(2026, 11, 6, 12);
    assert.deepEqual(csvRange(undefined, undefined, now), { from: '2026-12-05T12:00:00.000Z', to: '2026-12-06T12:00:00.000Z' });
    assert.deepEqual(csvRange('2026-12-01', '2026-12-02T03:00:00+03:00', now), { from: '2026-12-01T00:00:00.000Z', to: '2026-12-02T00:00:00.000Z' });
    assert.match((csvRange('yesterday', undefined, now) as { error: string }).error, /from must be a date or time.*"yesterday"/);
    assert.match((csvRange('2026-12-03', '2026-12-01', now) as { error: string }).error, /from must not be after to/);
  });
});
