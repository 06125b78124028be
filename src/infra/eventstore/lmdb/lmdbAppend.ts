import type { ExpectedRevision } from '../eventStore.ts';
import { type EncodedEvent, storedEventJson } from './eventRecord.ts';
import { type LmdbLayout, readHead, streamStateOf } from './lmdbLayout.ts';
import { actualRevision, matchesExpectedRevision, NEW_STREAM } from './streamState.ts';

export type AppendOutcome =
  | { kind: 'appended'; revision: number; position: number }
  | { kind: 'conflict'; actual: number | 'no_stream' };

export interface StreamAppend {
  stream: string;
  /** The stream name as JSON, encoded once per append. */
  streamJson: string;
  expected: ExpectedRevision;
  events: readonly EncodedEvent[];
}

/**
 * The writes of one append, inside the write transaction the caller runs: checks the expected revision
 * before writing anything (lmdb-js does not roll back a transaction whose callback throws), then puts each
 * event at the next global position with its stream index entry, and the stream's new last revision.
 */
export function appendInTransaction(
  layout: LmdbLayout,
  clock: () => Date,
  append: StreamAppend,
): AppendOutcome {
  const { stream, streamJson, expected, events } = append;
  const state = streamStateOf(layout, stream) ?? NEW_STREAM;
  if (!matchesExpectedRevision(state, expected)) return { kind: 'conflict', actual: actualRevision(state) };
  const created = clock().toISOString();
  let position = (readHead(layout) ?? -1) + 1;
  let revision = state.lastRevision;
  for (const event of events) {
    revision++;
    layout.events.put(position, storedEventJson(streamJson, revision, created, event));
    layout.streamIndex.put([stream, revision], position);
    position++;
  }
  layout.streams.put(stream, { ...state, lastRevision: revision });
  return { kind: 'appended', revision, position: position - 1 };
}
