import test from 'ava';
import fc from 'fast-check';
import { isValidTs, normalizeTs } from '../../../src/projections/timestamps.ts';

/** The definition the fast path must agree with: a round trip through Date. */
function roundTrip(ts: string): string {
  const time = Date.parse(ts);
  return Number.isNaN(time) ? ts : new Date(time).toISOString();
}

const digits = (n: number, max: number) => fc.integer({ min: 0, max }).map((v) => String(v).padStart(n, '0'));

test('normalizeTs equals the Date round trip on canonical-looking and rolled-over timestamps', (t) => {
  fc.assert(
    fc.property(
      digits(4, 9999),
      digits(2, 14),
      digits(2, 33),
      digits(2, 25),
      digits(2, 61),
      digits(2, 61),
      digits(3, 999),
      (y, mo, d, h, mi, s, ms) => {
        const ts = `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`;
        return normalizeTs(ts) === roundTrip(ts);
      },
    ),
    { numRuns: 20_000 },
  );
  for (const ts of [
    '2026-02-30T10:00:00.000Z',
    '2026-02-28T24:00:00.000Z',
    '2026-04-31T00:00:00.000Z',
    '2024-02-29T00:00:00.000Z',
    '2100-02-29T00:00:00.000Z',
    '2000-02-29T00:00:00.000Z',
    '2026-11-30T23:59:59.999Z',
    '2026-12-31T23:59:59.999Z',
  ])
    t.is(normalizeTs(ts), roundTrip(ts));
  t.is(normalizeTs('2100-02-29T00:00:00.000Z'), '2100-03-01T00:00:00.000Z');
  t.is(normalizeTs('2026-02-28T24:00:00.000Z'), '2026-03-01T00:00:00.000Z');
});

test('normalizeTs equals the Date round trip on other forms and on any string', (t) => {
  for (const ts of [
    '2026-11-24T10:00:00Z',
    '2026-11-24T10:00:00.5Z',
    '2026-11-24T11:00:00+01:00',
    '2026-11-24',
    'nope',
  ])
    t.is(normalizeTs(ts), roundTrip(ts));
  fc.assert(fc.property(fc.string(), (ts) => normalizeTs(ts) === roundTrip(ts)));
  fc.assert(
    fc.property(
      fc.date({ noInvalidDate: true }),
      (d) => normalizeTs(d.toISOString()) === roundTrip(d.toISOString()),
    ),
  );
});

test('isValidTs holds exactly for times whose date and hour exist (Date.parse alone rolls them over)', (t) => {
  fc.assert(
    fc.property(
      digits(4, 9999),
      digits(2, 13),
      digits(2, 32),
      digits(2, 24),
      fc.constantFrom('Z', '.5Z', '+02:00', ''),
      (y, mo, d, h, tail) => {
        const ts = `${y}-${mo}-${d}T${h}:30:00${tail}`;
        const time = Date.parse(`${y}-${mo}-${d}T${h}:30:00Z`);
        // Exists: Date reads it back as the same year, month, day and hour.
        const exists =
          !Number.isNaN(time) && new Date(time).toISOString().slice(0, 13) === `${y}-${mo}-${d}T${h}`;
        return isValidTs(ts) === exists;
      },
    ),
    { numRuns: 20_000 },
  );
  t.false(isValidTs('2026-02-31'));
  t.true(isValidTs('2024-02-29'));
  t.false(isValidTs('not a date'));
});
