import type { FileHandle } from 'node:fs/promises';
import type { JobEvent } from '../domain/events.ts';
import { fsyncDir, makeNewDirectory, ownDirectory, writeNewFile } from '../infra/files/durableFiles.ts';
import { openPrivateFile } from '../infra/files/privateFile.ts';
import { type RunPaths, runPaths } from '../infra/files/runsLayout.ts';
import { LruMap } from '../infra/lruMap.ts';
import { jsonlLine } from './jobFold.ts';
import { repairJsonlTail } from './jsonlTail.ts';
import type { PerJobFileProjectionOptions } from './perJobFileProjection.ts';
import { PerJobFileProjection } from './perJobFileProjection.ts';
import { withGapsFilled } from './storeGaps.ts';

export interface JsonlProjectionOptions extends PerJobFileProjectionOptions {
  /** Jobs whose last seq is kept in memory; others re-read their file's tail. Default 10 000. */
  cacheSize?: number;
}

/**
 * `runs/<id>/events.jsonl`: one canonical JSON object per line, append-only. It appends seq `last + 1` only,
 * `last` being the last line's seq (read from the file's tail the first time a job is touched, after
 * cutting a torn tail away), so a replay never duplicates a line. The files touched are fsynced before
 * the checkpoint moves.
 */
export class JsonlProjection extends PerJobFileProjection {
  readonly #options: JsonlProjectionOptions;
  readonly #lastSeq: LruMap<string, number>;
  readonly #sync: boolean;

  constructor(options: JsonlProjectionOptions) {
    super(options.name ?? 'jsonl', options);
    this.#options = options;
    this.#sync = options.sync ?? true;
    this.#lastSeq = new LruMap(options.cacheSize ?? 10_000);
  }

  async close(): Promise<void> {
    this.#lastSeq.clear();
  }

  protected async projectJob(jobId: string, events: readonly JobEvent[]): Promise<void> {
    const paths = runPaths(this.#options.runsDir, jobId);
    if (!this.#sync && (events[0] as JobEvent).seq === 0 && (await this.#writeNew(jobId, paths, events)))
      return;
    let handle: FileHandle | null = null;
    try {
      // A link a stage put in place of its run dir is removed, never appended through; the file in the
      // new directory is written from the store.
      const { found: replaced } = await ownDirectory(paths.dir, this.#sync);
      if (replaced) {
        this.#options.logger?.warn(
          { job_id: jobId, found: replaced },
          'events.jsonl: removed what a stage put in place of the run dir; rewriting it from the store',
        );
        this.#lastSeq.delete(jobId);
      }
      let last = this.#lastSeq.get(jobId);
      let created = false;
      if (last === undefined) {
        const tail = await repairJsonlTail(paths.events);
        if (tail.removed)
          this.#options.logger?.warn(
            { job_id: jobId, reason: tail.removed },
            'events.jsonl: removed what stood in its place; rewriting it from the store',
          );
        if (tail.truncatedBytes > 0)
          this.#options.logger?.warn(
            { job_id: jobId, bytes: tail.truncatedBytes, last_seq: tail.lastSeq },
            'events.jsonl: torn last line cut off',
          );
        last = tail.lastSeq;
        if (!tail.exists) created = true;
      }
      // O_NOFOLLOW, one name: a link planted since is refused here, then removed by the repair on the retry.
      handle = await openPrivateFile(paths.events, 'append', 'events.jsonl');
      if (last >= 0 && (await handle.stat()).size === 0) {
        // Deleted behind the cache's back: rebuilt from the store.
        this.#options.logger?.warn({ job_id: jobId }, 'events.jsonl vanished: rewriting it from the store');
        last = -1;
        created = true;
      }
      const toWrite = await withGapsFilled(this.#options.store, jobId, last, events, this.#options.logger);
      if (toWrite.length > 0) {
        await handle.writeFile(toWrite.map(jsonlLine).join(''));
        if (this.#sync) await handle.sync();
        last = (toWrite.at(-1) as JobEvent).seq;
      }
      await handle.close();
      handle = null;
      if (created && this.#sync) await fsyncDir(paths.dir);
      this.#lastSeq.set(jobId, last);
    } catch (e) {
      // The file's end is unknown after a failed write: re-read (and repair) its tail next time.
      this.#lastSeq.delete(jobId);
      await handle?.close().catch(() => {});
      throw e;
    }
  }

  /**
   * A rebuild's aside copy, a job whose first event is in the batch: its run dir and file are made new, the
   * file written whole in one open (3 calls where the usual path makes about 10: probes of a file and a
   * directory that cannot exist yet, a stat, a reopen). False, having written nothing, when the run dir is
   * there already (a stage may have put anything there): the usual path checks it.
   */
  async #writeNew(jobId: string, paths: RunPaths, events: readonly JobEvent[]): Promise<boolean> {
    if (!(await makeNewDirectory(paths.dir))) return false;
    const lines = await withGapsFilled(this.#options.store, jobId, -1, events, this.#options.logger);
    if (!(await writeNewFile(paths.events, lines.map(jsonlLine).join('')))) return false;
    this.#lastSeq.set(jobId, (lines.at(-1) as JobEvent).seq);
    return true;
  }
}
