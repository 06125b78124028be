import type { FileHandle } from 'node:fs/promises';
import { lstat, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import { formatLogLine } from '../domain/logRecord.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import type { StoredStageLog } from '../infra/eventstore/stageLogStreams.ts';
import { readStageLog, readStageRuns } from '../infra/eventstore/stageLogStreams.ts';
import { ensureDir, fsyncDir } from '../infra/files/durableFiles.ts';
import { isUnsafeFileError, openPrivateFile, PRIVATE_DIR_MODE } from '../infra/files/privateFile.ts';
import { isSafeName, runPaths } from '../infra/files/runsLayout.ts';
import type { CheckpointStore } from './checkpointStore.ts';
import { mapLimit } from './mapLimit.ts';
import { maxPosition } from './positions.ts';
import type { Projection } from './projection.ts';

export interface StageLogProjectionOptions {
  runsDir: string;
  checkpoints: CheckpointStore;
  /** Read back when a file lacks lines before a record's (a new node, a deleted file). */
  store: EventStore;
  logger?: Logger;
  /** Checkpoint key; default `logs`. A rebuild into another runs dir uses its own. */
  name?: string;
  /** Files written at once. Default 16. */
  concurrency?: number;
  /** Default true. False for a rebuild's aside copy: see `JsonlProjectionOptions.sync`. */
  sync?: boolean;
}

/** The projected log of one stage: `runs/<id>/logs/<stage>.log`; null for names that cannot be paths. */
export function stageLogFile(runsDir: string, jobId: string, stage: string): string | null {
  if (!isSafeName(jobId) || !isSafeName(stage)) return null;
  return runPaths(runsDir, jobId).stageLog(stage);
}

/** The bytes a record adds to its stage's log. */
export const recordBytes = (stored: StoredStageLog): Buffer =>
  Buffer.from(stored.record.lines.map(formatLogLine).join(''));

/**
 * `runs/<id>/logs/<stage>.log` from the stage's log records (every attempt, in order). A record carries
 * its byte offset, so writing is idempotent: bytes the file already has are skipped, a file that lacks
 * bytes before a record is filled from the store first (a process that did not run the stage, a file
 * deleted). Files are fsynced before the checkpoint moves.
 *
 * The run dir is writable by stage commands: the file is opened O_NOFOLLOW as a regular file with one name
 * (anything else at the name is removed unread and the file rewritten from the store), and `runs/<id>`
 * and `logs/` must be real directories (a directory link is never written through: that file is skipped,
 * with a warning, and `verify` reports it).
 */
export class StageLogProjection implements Projection {
  readonly name: string;
  readonly #options: StageLogProjectionOptions;
  #checkpoint: string | null | undefined;

  constructor(options: StageLogProjectionOptions) {
    this.name = options.name ?? 'logs';
    this.#options = options;
  }

  async checkpoint(): Promise<string | null> {
    this.#checkpoint ??= this.#options.checkpoints.get(this.name);
    return this.#checkpoint;
  }

  /** Job events hold no log lines: only the checkpoint moves past them. */
  async apply(batch: readonly JobEvent[]): Promise<void> {
    await this.#moveCheckpoint(batch.at(-1)?.position);
  }

  async applyLogs(records: readonly StoredStageLog[]): Promise<void> {
    const checkpoint = await this.checkpoint();
    const byFile = new Map<string, StoredStageLog[]>();
    for (const stored of records) {
      if (maxPosition(checkpoint, stored.position) === checkpoint) continue;
      const key = `${stored.record.job_id}\u0000${stored.record.stage}`;
      const list = byFile.get(key);
      if (list) list.push(stored);
      else byFile.set(key, [stored]);
    }
    await mapLimit([...byFile.values()], this.#options.concurrency ?? 16, (list) => this.#project(list));
    await this.#moveCheckpoint(records.at(-1)?.position);
  }

  async close(): Promise<void> {
    this.#checkpoint = undefined;
  }

  async #moveCheckpoint(position: string | undefined): Promise<void> {
    if (position === undefined) return;
    const checkpoint = await this.checkpoint();
    const next = maxPosition(checkpoint, position);
    if (next === checkpoint) return;
    await this.#options.checkpoints.set(this.name, next as string);
    this.#checkpoint = next;
  }

  /** Writes one stage's records (in log order) to its file. */
  async #project(records: readonly StoredStageLog[]): Promise<void> {
    const { job_id: jobId, stage } = (records[0] as StoredStageLog).record;
    const file = stageLogFile(this.#options.runsDir, jobId, stage);
    if (file === null) return;
    const runDir = join(file, '..', '..');
    const logsDir = join(file, '..');
    if (this.#options.sync ?? true) await ensureDir(logsDir);
    else await mkdir(logsDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    for (const dir of [runDir, logsDir])
      if (!(await lstat(dir)).isDirectory()) {
        this.#options.logger?.warn(
          { job_id: jobId, stage, dir },
          'stage log: a directory of the run dir is not a real directory (a link?); not written through',
        );
        return;
      }
    const handle = await this.#open(file, jobId, stage);
    try {
      let size = (await handle.stat()).size;
      const parts: Buffer[] = [];
      for (const stored of records) {
        if (stored.end <= size) continue; // already there
        if (stored.record.offset > size) {
          const filled = await this.#fill(jobId, stage, size, stored.record.offset);
          parts.push(filled.bytes);
          size = filled.end;
          if (size < stored.record.offset) {
            this.#options.logger?.warn(
              { job_id: jobId, stage, offset: stored.record.offset, have: size },
              'stage log: the store lacks lines before this record; skipped',
            );
            continue;
          }
        }
        parts.push(recordBytes(stored).subarray(size - stored.record.offset));
        size = stored.end;
      }
      if (parts.length > 0) {
        await handle.writeFile(Buffer.concat(parts));
        if (this.#options.sync ?? true) await handle.sync();
      }
    } finally {
      await handle.close();
    }
  }

  async #open(file: string, jobId: string, stage: string): Promise<FileHandle> {
    const label = `logs/${stage}.log`;
    try {
      return await openPrivateFile(file, 'append', label);
    } catch (error) {
      if (!isUnsafeFileError(error) && (error as NodeJS.ErrnoException).code !== 'EISDIR') throw error;
      // Removes the planted name only: a link's target, a hard link's other name, are left as they are.
      await rm(file, { recursive: true, force: true });
      await fsyncDir(join(file, '..'));
      this.#options.logger?.warn(
        { job_id: jobId, stage, reason: (error as Error).message },
        'stage log: removed what stood in its place; rewriting it from the store',
      );
      return openPrivateFile(file, 'append', label);
    }
  }

  /** The log's bytes from `from` up to `until`, read from the store. */
  async #fill(
    jobId: string,
    stage: string,
    from: number,
    until: number,
  ): Promise<{ bytes: Buffer; end: number }> {
    const runs = await readStageRuns(this.#options.store, jobId, stage);
    const parts: Buffer[] = [];
    let end = from;
    for await (const stored of readStageLog(this.#options.store, jobId, stage, runs, from)) {
      if (stored.record.offset >= until || stored.record.offset > end) break;
      parts.push(recordBytes(stored).subarray(end - stored.record.offset));
      end = stored.end;
    }
    return { bytes: Buffer.concat(parts), end };
  }
}
