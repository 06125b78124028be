import type { EventStoreDBClient, Position, ResolvedEvent } from '@eventstore/db-client';
import { BACKWARDS, END, FORWARDS, START } from '@eventstore/db-client';
import type { ReadAllOptions, RecordedEvent } from '../eventStore.ts';
import { collectRead } from './clientStreams.ts';
import { assertPrefixes, maxCountOption } from './esdbArguments.ts';
import { comparePositions, formatPosition, parsePosition } from './positions.ts';
import { isSystemEvent, recordedOf, toPortEvent } from './recordedEvent.ts';
import { StreamVisibility } from './streamVisibility.ts';

/**
 * Reads `$all` in pages of `pageSize`, skipping system events, other prefixes and events that their
 * stream's retention hides. A backwards read from a position includes the event at that position
 * (EventStoreDB's own backwards read starts just before it).
 */
export async function* readAllVisible(
  client: EventStoreDBClient,
  pageSize: number,
  options: ReadAllOptions,
  assertOpen: () => void,
): AsyncGenerator<RecordedEvent, void> {
  const direction = options.direction ?? 'forwards';
  const forwards = direction === 'forwards';
  const prefixes = options.filter?.streamNamePrefix;
  assertPrefixes(prefixes);
  let remaining = maxCountOption(options.maxCount);
  const from = options.fromPosition ?? (forwards ? 'start' : 'end');
  if (remaining === 0 || (forwards && from === 'end') || (!forwards && from === 'start')) return;
  let cursor: Position | 'start' | 'end' = from === 'start' || from === 'end' ? from : parsePosition(from);
  const visibility = new StreamVisibility(client);
  const accept = async (records: (ResolvedEvent | undefined)[]) => {
    const candidates = records
      .map((resolved) => (resolved ? recordedOf(resolved) : undefined))
      .filter((r) => r !== undefined)
      .filter(
        (r) =>
          !isSystemEvent(r) && (prefixes === undefined || prefixes.some((p) => r.streamId.startsWith(p))),
      );
    await visibility.prepare(candidates);
    return candidates.filter((r) => visibility.isVisible(r)).map(toPortEvent);
  };

  if (!forwards && typeof cursor === 'object') {
    const at = cursor;
    const [same] = await collectRead(client.readAll({ fromPosition: at, direction: FORWARDS, maxCount: 1 }));
    const exact = same && recordedOf(same)?.position;
    if (exact && comparePositions(exact, at) === 0) {
      for (const e of await accept([same])) {
        yield e;
        remaining--;
      }
    }
  }
  let readThrough: Position | undefined;
  while (remaining > 0) {
    assertOpen();
    const page = await collectRead(
      client.readAll({
        fromPosition: cursor === 'start' ? START : cursor === 'end' ? END : cursor,
        direction: forwards ? FORWARDS : BACKWARDS,
        maxCount: pageSize,
      }),
    );
    // A forwards read includes its start position: wanted on the first page, already read on later ones.
    const seen = readThrough;
    const fresh =
      seen === undefined
        ? page
        : page.filter((r) => {
            const p = recordedOf(r)?.position;
            return p === undefined || comparePositions(p, seen) > 0;
          });
    for (const e of await accept(fresh)) {
      yield e;
      if (--remaining === 0) return;
    }
    if (page.length < pageSize) return;
    const last = recordedOf(page[page.length - 1] as ResolvedEvent)?.position;
    if (!last) return;
    cursor = last;
    if (forwards) readThrough = last;
  }
}

/** The position of the last non-system event in `$all`, read backwards in pages; null when there is none. */
export async function headPositionOf(
  client: EventStoreDBClient,
  pageSize: number,
  signal?: AbortSignal,
): Promise<string | null> {
  let cursor: Position | 'end' = 'end';
  for (;;) {
    const page: ResolvedEvent[] = await collectRead(
      client.readAll({
        fromPosition: cursor === 'end' ? END : cursor,
        direction: BACKWARDS,
        maxCount: pageSize,
      }),
      signal,
    );
    for (const resolved of page) {
      const r = recordedOf(resolved);
      if (r && !isSystemEvent(r)) return formatPosition(r.position);
    }
    const last: ResolvedEvent | undefined = page.at(-1);
    const position: Position | undefined = last ? recordedOf(last)?.position : undefined;
    if (page.length < pageSize || !position) return null;
    cursor = position;
  }
}
