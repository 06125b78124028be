/**
 * EventStoreDB's expected-revision rules for a write, as the server decides them (IndexWriter.CheckCommit)
 * and the clients document them (Clients › Appending events › "Handling concurrency" and the
 * ExpectedRevision doc: `no_stream`, `any`, `stream_exists`, or an exact revision; duplicate event ids are
 * idempotent).
 */
export type ExpectedVersion = bigint | 'any' | 'no_stream' | 'stream_exists';

export type CommitDecision =
  | { kind: 'ok'; current: bigint; softDeleted: boolean }
  | { kind: 'idempotent'; first: bigint; last: bigint }
  | { kind: 'wrong_expected_version'; current: bigint }
  | { kind: 'stream_deleted' };

/** What the check needs to know about the target stream. */
export interface StreamFacts {
  /** Last revision, `-1n` when the stream has no event. */
  current: bigint;
  tombstoned: boolean;
  /** `$tb` is Int64.MaxValue: soft-deleted and not yet written again. */
  softDeleted: boolean;
  /** The metadata stream `$$<stream>` has at least one event. */
  hasMetadata: boolean;
  /** The id of the event at a revision, if the stream holds it. */
  eventIdAt(revision: bigint): string | undefined;
  /** The revision at which this stream holds an event id, if it does. */
  revisionOf(eventId: string): bigint | undefined;
}

export function checkCommit(
  facts: StreamFacts,
  expected: ExpectedVersion,
  eventIds: readonly string[],
): CommitDecision {
  const { current } = facts;
  // A tombstoned (hard-deleted) stream refuses every write (docs: Streams › "Hard delete").
  if (facts.tombstoned) return { kind: 'stream_deleted' };

  if (expected === 'stream_exists') {
    // Appending with stream_exists to a soft-deleted stream is refused as deleted, not recreated.
    if (facts.softDeleted) return { kind: 'stream_deleted' };
    // A stream "exists" once it has an event or metadata.
    if (current < 0n && !facts.hasMetadata) return { kind: 'wrong_expected_version', current };
  }

  if (expected === 'any' || expected === 'stream_exists') {
    // Idempotence for `any`: the write is a replay when every event id is already in this stream.
    const revisions = eventIds.map((id) => facts.revisionOf(id));
    const first = revisions[0];
    if (first === undefined) return { kind: 'ok', current, softDeleted: facts.softDeleted };
    if (revisions.some((r) => r === undefined)) return { kind: 'wrong_expected_version', current };
    return { kind: 'idempotent', first, last: revisions[revisions.length - 1] as bigint };
  }

  // no_stream is revision -1.
  const expectedRevision = expected === 'no_stream' ? -1n : expected;
  if (expectedRevision < current) {
    if (eventIds.length === 0) return { kind: 'wrong_expected_version', current };
    // Idempotence for an exact revision: the same ids already sit right after the expected revision.
    let revision = expectedRevision;
    for (const [i, id] of eventIds.entries()) {
      revision += 1n;
      if (facts.eventIdAt(revision) === id) continue;
      // no_stream on a soft-deleted stream recreates it, continuing its revisions (docs: Streams ›
      // "Soft delete and TruncateBefore").
      if (i === 0 && expected === 'no_stream' && facts.softDeleted)
        return { kind: 'ok', current, softDeleted: true };
      return { kind: 'wrong_expected_version', current };
    }
    return { kind: 'idempotent', first: expectedRevision + 1n, last: revision };
  }
  if (expectedRevision > current) return { kind: 'wrong_expected_version', current };
  return { kind: 'ok', current, softDeleted: facts.softDeleted };
}
