import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ReadAllOptions, ReadStreamOptions, RecordedEvent } from '../eventStore.ts';
import { type LmdbLayout, readHead, streamStateOf } from './lmdbLayout.ts';
import { scanAll, scanStream, VisibilityView } from './lmdbScans.ts';
import { parsePosition } from './positions.ts';
import { assertPrefixes, assertStreamName, maxCountOption, revisionOption } from './storeArguments.ts';
import { firstVisibleRevision, NEW_STREAM } from './streamState.ts';

/** What a read needs of the store. */
export interface StoreReader {
  layout: LmdbLayout;
  /** Entries per cursor scan: the memory bound of one reader. */
  batchSize: number;
  /** Now, for `maxAge` retention. */
  nowMs(): number;
  /** Throws once the store is closed; called before every batch. */
  assertOpen(): void;
}

/** A stream's events in revision order (or reverse), in batches of `batchSize`, hiding what retention hides. */
export async function* readStreamEvents(
  reader: StoreReader,
  stream: string,
  options: ReadStreamOptions,
): AsyncGenerator<RecordedEvent, void> {
  assertStreamName(stream);
  const direction = options.direction ?? 'forwards';
  const forwards = direction === 'forwards';
  const from = revisionOption(options.fromRevision, forwards ? 'start' : 'end');
  let remaining = maxCountOption(options.maxCount);
  reader.assertOpen();
  const state = streamStateOf(reader.layout, stream) ?? NEW_STREAM;
  const first = firstVisibleRevision(state);
  const last = state.lastRevision;
  let next = forwards
    ? Math.max(first, from === 'start' ? 0 : from === 'end' ? last + 1 : from)
    : Math.min(last, from === 'start' ? 0 : from === 'end' ? last : from);
  for (let batches = 0; remaining > 0 && (forwards ? next <= last : next >= first); batches++) {
    if (batches > 0) await nextTurn(); // see readAllEvents
    reader.assertOpen();
    const view = new VisibilityView(reader.layout, reader.nowMs());
    const limit = Math.min(reader.batchSize, remaining);
    const batch = scanStream(
      reader.layout,
      view,
      stream,
      next,
      direction,
      limit,
      forwards ? last + 1 : first - 1,
    );
    if (batch.last === undefined) return;
    next = forwards ? batch.last + 1 : batch.last - 1;
    for (const event of batch.events) {
      yield event;
      if (--remaining === 0) return;
    }
  }
}

/**
 * `$all` in position order (or reverse), up to the head when the read began, in batches of `batchSize`;
 * filtered by prefix and retention.
 */
export async function* readAllEvents(
  reader: StoreReader,
  options: ReadAllOptions,
): AsyncGenerator<RecordedEvent, void> {
  const direction = options.direction ?? 'forwards';
  const forwards = direction === 'forwards';
  const from = options.fromPosition ?? (forwards ? 'start' : 'end');
  const fromNumber = from === 'start' || from === 'end' ? undefined : parsePosition(from);
  const prefixes = options.filter?.streamNamePrefix;
  assertPrefixes(prefixes);
  let remaining = maxCountOption(options.maxCount);
  reader.assertOpen();
  const head = readHead(reader.layout);
  if (head === undefined) return;
  let next = forwards
    ? (fromNumber ?? (from === 'start' ? 0 : head + 1))
    : Math.min(head, fromNumber ?? (from === 'start' ? 0 : head));
  for (let batches = 0; remaining > 0 && (forwards ? next <= head : next >= 0); batches++) {
    // A turn of the event loop before each batch after the first: each `yield` below resumes its reader in a
    // microtask, so a reader that awaits nothing else (a count of a long lag) would otherwise hold the
    // process, every timer, socket and SSE client, for the whole scan, and filtered-out stretches would too.
    // A read of one batch (most are) takes no turn.
    if (batches > 0) await nextTurn();
    reader.assertOpen();
    const view = new VisibilityView(reader.layout, reader.nowMs(), prefixes);
    const limit = reader.batchSize;
    const batch = scanAll(reader.layout, view, next, direction, limit, forwards ? head + 1 : undefined);
    if (batch.last === undefined) return;
    next = forwards ? batch.last + 1 : batch.last - 1;
    for (const event of batch.events) {
      yield event;
      if (--remaining === 0) return;
    }
  }
}
