/** `YYYY-MM-DDTHH:MM:SS.mmmZ` with an hour below 24 (the day is checked against its month below). */
const CANONICAL_TS =
  /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isCanonical(ts: string): boolean {
  const m = CANONICAL_TS.exec(ts);
  return m !== null && dayExists(Number(m[1]), Number(m[2]), Number(m[3]));
}

/** Whether the month (1-12) has the day (1-31) in that year. */
function dayExists(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  if (day <= 28) return true;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number));
}

/**
 * ISO timestamps compare as strings only in one fixed format: `10:00:00.5Z` sorts before `10:00:00Z`.
 * Index keys and `since` bounds both go through this (millisecond precision, always `Z`). A timestamp
 * already in that form is returned as it is without a round trip through `Date` (every event the operator
 * writes is: this runs for each of them on every index write); a day the month does not have and hour 24,
 * which `Date` rolls over, take the round trip.
 */
export function normalizeTs(ts: string): string {
  if (isCanonical(ts)) return ts;
  const time = Date.parse(ts);
  return Number.isNaN(time) ? ts : new Date(time).toISOString();
}

export function isValidTs(ts: string): boolean {
  return !Number.isNaN(Date.parse(ts)) && namesRealTime(ts);
}

/**
 * Whether the date (and hour) an ISO text begins with exist: `Date.parse` rolls `2026-02-31` over to March 3
 * and `T24:00` to the next day, where a client meant a time that is not there (400, not another day).
 */
export function namesRealTime(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}))?/.exec(text);
  if (m === null) return true;
  if (m[4] !== undefined && Number(m[4]) > 23) return false;
  return dayExists(Number(m[1]), Number(m[2]), Number(m[3]));
}
