import { closeSync, constants, lstatSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import type { JobEvent } from '../../domain/events.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../infra/files/privateFile.ts';
import { runPaths } from '../../infra/files/runsLayout.ts';
import { LruMap } from '../../infra/lruMap.ts';
import { jsonlLine, repairJsonlTail } from '../index.ts';
import type { PerJobFileProjectionOptions } from '../perJobFileProjection.ts';
import { PerJobFileProjection } from '../perJobFileProjection.ts';
import { withGapsFilled } from '../storeGaps.ts';

const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = constants;
const APPEND_FLAGS = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW;

/**
 * A rebuild's `events.jsonl` files under its aside runs dir: the lines `JsonlProjection` writes, by the same
 * rule (seq `last + 1` only, gaps filled from the store), with synchronous calls and none of the live
 * projection's checks against a file deleted or replaced behind its back: nobody else writes the aside copy,
 * and nobody reads it before the swap, which syncs it whole. A job not seen yet has no file there; a job
 * forgotten by the cache has its file's tail read again. O_NOFOLLOW still refuses a link planted under the name.
 */
export class StagedJsonlProjection extends PerJobFileProjection {
  readonly #options: PerJobFileProjectionOptions;
  readonly #lastSeq: LruMap<string, number>;

  constructor(options: PerJobFileProjectionOptions) {
    super(options.name ?? 'jsonl', options);
    this.#options = options;
    this.#lastSeq = new LruMap(options.cacheSize ?? 10_000);
  }

  async close(): Promise<void> {
    this.#lastSeq.clear();
  }

  protected async projectJob(jobId: string, events: readonly JobEvent[]): Promise<void> {
    const paths = runPaths(this.#options.runsDir, jobId);
    let last = this.#lastSeq.get(jobId);
    if (last === undefined) {
      if (lstatSync(paths.events, { throwIfNoEntry: false }) === undefined) {
        mkdirSync(paths.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
        last = -1;
      } else last = (await repairJsonlTail(paths.events)).lastSeq;
    }
    // The cache entry goes first: a failed write leaves the file's end unknown, read again next time.
    this.#lastSeq.delete(jobId);
    const toWrite = await withGapsFilled(this.#options.store, jobId, last, events, this.#options.logger);
    if (toWrite.length > 0) {
      appendWhole(paths.events, toWrite.map(jsonlLine).join(''));
      last = (toWrite.at(-1) as JobEvent).seq;
    }
    this.#lastSeq.set(jobId, last);
  }
}

function appendWhole(path: string, text: string): void {
  const fd = openSync(path, APPEND_FLAGS, PRIVATE_FILE_MODE);
  try {
    writeFileSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
