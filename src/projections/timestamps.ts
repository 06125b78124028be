/**
 * ISO timestamps compare as strings only in one fixed format: `10:00:00.5Z` sorts before `10:00:00Z`.
 * Index keys and `since` bounds both go through this (millisecond precision, always `Z`).
 */
export function normalizeTs(ts: string): string {
  const time = Date.parse(ts);
  return Number.isNaN(time) ? ts : new Date(time).toISOString();
}

export function isValidTs(ts: string): boolean {
  return !Number.isNaN(Date.parse(ts));
}
