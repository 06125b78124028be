import type { Logger } from 'pino';
import type { JobEvent } from '../../domain/events.ts';
import type { EventStore, RecordedEvent } from '../../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../../infra/eventstore/jobEvents.ts';
import type { StoredStageLog } from '../../infra/eventstore/stageLogStreams.ts';
import { LOG_STREAM_PREFIX, toStoredStageLog } from '../../infra/eventstore/stageLogStreams.ts';
import type { Projection } from '../index.ts';
import { comparePositions } from '../index.ts';

export interface FeedOptions {
  store: EventStore;
  /** Fed in this order, each chunk to each, as the ProjectionRunner does. */
  projections: readonly Projection[];
  /** Events (and log records) per chunk. */
  chunkSize: number;
  logger?: Logger;
  /** After each chunk: the position of its last item. */
  onChunk?(position: string): void;
  /** Checked between chunks: throws what it returns. */
  interrupted?(): Error | null;
}

/**
 * Feeds projections the log after `from` (exclusive; null: from the start) in chunks, in position order: job
 * events to `apply`, stage log records to `applyLogs` of the projections that have it, as the
 * ProjectionRunner would, and reads again until a read finds nothing new. Returns the position of the last
 * item fed (`from` when there was none).
 *
 * A rebuild's reader: a plain `readAll` in pages, without the runner's live subscription, wake-ups and
 * retries (a failure fails the rebuild, which touched nothing live), so reading stays a small part of it.
 */
export async function feedProjections(options: FeedOptions, from: string | null): Promise<string | null> {
  const takesLogs = options.projections.some((p) => p.applyLogs);
  const prefixes = takesLogs ? [JOB_STREAM_PREFIX, LOG_STREAM_PREFIX] : [JOB_STREAM_PREFIX];
  let last = from;
  let events: JobEvent[] = [];
  let logs: StoredStageLog[] = [];
  const flush = async () => {
    if (events.length === 0 && logs.length === 0) return;
    // Logs first, as the ProjectionRunner does: `apply` moves a projection's checkpoint to the chunk's last
    // event, and a log record before that position would then be taken as done and skipped.
    for (const projection of options.projections) {
      if (logs.length > 0) await projection.applyLogs?.(logs);
      if (events.length > 0) await projection.apply(events);
    }
    events = [];
    logs = [];
    options.onChunk?.(last as string);
    const error = options.interrupted?.();
    if (error) throw error;
  };
  for (;;) {
    const before = last;
    // `fromPosition` is inclusive: the event at `last` comes again and is skipped.
    for await (const recorded of options.store.readAll({
      fromPosition: last ?? 'start',
      filter: { streamNamePrefix: prefixes },
    })) {
      if (last !== null && comparePositions(recorded.position, last) <= 0) continue;
      if (recorded.streamId.startsWith(LOG_STREAM_PREFIX)) {
        const stored = readLog(recorded, options.logger);
        if (stored) logs.push(stored);
      } else events.push(toJobEvent(recorded));
      last = recorded.position;
      if (events.length + logs.length >= options.chunkSize) await flush();
    }
    await flush();
    if (last === before) return last;
  }
}

/** A log record this version cannot read is skipped (logged), as the ProjectionRunner does. */
function readLog(recorded: RecordedEvent, logger: Logger | undefined): StoredStageLog | null {
  try {
    return toStoredStageLog(recorded);
  } catch (error) {
    logger?.error({ err: error, position: recorded.position }, 'rebuild: log record skipped');
    return null;
  }
}
