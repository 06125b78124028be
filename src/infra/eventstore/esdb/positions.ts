import type { Position } from '@eventstore/db-client';
import { MAX_POSITION } from '../positionLimits.ts';
import { InvalidEventStoreArgumentError } from '../storeErrors.ts';

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * EventStoreDB positions are (commit, prepare) pairs of byte offsets in its transaction log; they pass
 * 2^53 and never go through a JS number here. The port's position string is the commit position in
 * decimal. That is enough to resume exactly: every event appended over gRPC is an implicitly committed
 * prepare record whose commit and prepare positions are equal (the server's AllReader positions such a
 * record at (LogPosition, LogPosition)). Only events of legacy TCP multi-record transactions differ; the
 * adapter keeps the full pair internally when it resubscribes, so it stays exact for them too, but a
 * consumer who resumes from such an event's string may skip the rest of that transaction.
 */
export const formatPosition = (position: Position): string => position.commit.toString(10);

export function parsePosition(position: string): Position {
  const commit = DECIMAL.test(position) ? BigInt(position) : -1n;
  if (commit < 0n || commit > MAX_POSITION.eventstoredb.value)
    throw new InvalidEventStoreArgumentError(
      `position must be a decimal string up to ${MAX_POSITION.eventstoredb.text}, got ${JSON.stringify(position)}`,
    );
  return { commit, prepare: commit };
}

/** Order of `$all` (by commit, then prepare). */
export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}
