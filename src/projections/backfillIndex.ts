import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import { lmdbTransaction } from '../infra/lmdb/lmdbWrite.ts';
import type { GenerationTables } from './readModelStore.ts';
import { READ_MODEL_CHECKPOINT } from './readModelStore.ts';

const BACKFILL_CHUNK = 2000;

/** A secondary index of the read model that older generations may lack, and how to fill it in. */
export interface IndexBackfill {
  /** For the log lines: `time`, `search`. */
  name: string;
  /** Key in the generation's `checkpoints` table whose value is `version` once every event has its rows. */
  marker: string;
  version: string;
  /** Key in the same table: the padded position the backfill has reached. */
  progress: string;
  /** Writes the index rows of some events, in position order, inside the caller's write transaction. */
  write(t: GenerationTables, events: readonly JobEvent[]): void;
  /** Runs in the transaction that marks the generation indexed (e.g. drops an older layout's rows). */
  done?(t: GenerationTables): void;
}

export const isIndexed = (t: GenerationTables, index: Pick<IndexBackfill, 'marker' | 'version'>) =>
  t.checkpoints.get(index.marker) === index.version;

/**
 * Gives the events of a generation written before an index existed their rows, in chunks (each chunk and
 * its progress in one transaction, so an interrupted backfill resumes where it stopped), then marks the
 * generation. A generation without any row needs nothing: its first batch writes the marker.
 */
export async function backfillIndex(
  t: GenerationTables,
  index: IndexBackfill,
  logger?: Logger,
): Promise<void> {
  if (isIndexed(t, index)) return;
  if (t.checkpoints.get(READ_MODEL_CHECKPOINT) === undefined) return;
  let from = t.checkpoints.get(index.progress);
  logger?.info(
    { generation: t.generation, from: from ?? 'start' },
    `read model: building the ${index.name} index`,
  );
  let indexed = 0;
  for (;;) {
    const events: JobEvent[] = [];
    let last: string | undefined;
    let count = 0;
    for (const { key, value } of t.positions.getRange({
      start: from ?? '',
      exclusiveStart: from !== undefined,
      limit: BACKFILL_CHUNK,
    })) {
      count++;
      last = key;
      const json = t.events.get([value[0], value[1]]);
      if (json !== undefined) events.push(JSON.parse(json) as JobEvent);
    }
    const done = count < BACKFILL_CHUNK;
    await lmdbTransaction(t.checkpoints, () => {
      index.write(t, events);
      if (done) {
        t.checkpoints.removeSync(index.progress);
        index.done?.(t);
        t.checkpoints.putSync(index.marker, index.version);
      } else if (last !== undefined) t.checkpoints.putSync(index.progress, last);
    });
    indexed += count;
    if (done) break;
    from = last;
  }
  logger?.info({ generation: t.generation, events: indexed }, `read model: ${index.name} index ready`);
}
