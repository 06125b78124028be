import { MAX_POSITION } from '../positionLimits.ts';
import { InvalidEventStoreArgumentError } from '../storeErrors.ts';

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * Positions are numbered 0, 1, 2... and leave the store as decimal strings (the port's contract, so that an
 * adapter whose positions pass 2^53 can share it). Inside LMDB they are plain numbers: this store stays far
 * below 2^53 events.
 */
export function parsePosition(position: string): number {
  const n = DECIMAL.test(position) ? Number(position) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new InvalidEventStoreArgumentError(
      `position must be a decimal string up to ${MAX_POSITION.lmdb.text}, got ${JSON.stringify(position)}`,
    );
  return n;
}

export const formatPosition = (position: number): string => String(position);

export const formatHead = (head: number | undefined): string | null =>
  head === undefined ? null : formatPosition(head);
