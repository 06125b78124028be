/**
 * Store positions are decimal strings (EventStoreDB's exceed 2^53). Without leading zeros, a longer string
 * is a larger number, so they compare without parsing.
 */
export function comparePositions(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `null` (nothing applied yet) is below every position. */
export function isAtOrBelow(position: string, checkpoint: string | null): boolean {
  return checkpoint !== null && comparePositions(position, checkpoint) <= 0;
}

export function maxPosition(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return comparePositions(a, b) >= 0 ? a : b;
}

/** The lowest checkpoint, `null` when any is `null` (that projection starts from the beginning). */
export function minCheckpoint(checkpoints: readonly (string | null)[]): string | null {
  let min: string | null = null;
  for (const [i, c] of checkpoints.entries()) {
    if (c === null) return null;
    if (i === 0 || comparePositions(c, min as string) < 0) min = c;
  }
  return min;
}

/** A fixed-width form (uint64 fits in 20 digits) whose byte order is the numeric order, for LMDB keys. */
export function padPosition(position: string): string {
  return position.padStart(20, '0');
}

export function unpadPosition(padded: string): string {
  const trimmed = padded.replace(/^0+/, '');
  return trimmed === '' ? '0' : trimmed;
}
