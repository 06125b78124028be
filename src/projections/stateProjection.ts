import { relative } from 'node:path';
import type { JobEvent } from '../domain/events.ts';
import { initialState } from '../domain/jobDecider.ts';
import { type JobState, ownGate } from '../domain/jobState.ts';
import {
  makeNewDirectory,
  ownDirectory,
  writeFileAtomic,
  writeNewFile,
} from '../infra/files/durableFiles.ts';
import { isUnsafeFileError, readPrivateIfPresent } from '../infra/files/privateFile.ts';
import { isSafeName, runPaths } from '../infra/files/runsLayout.ts';
import { LruMap } from '../infra/lruMap.ts';
import { fileJson, foldEvents, toGateFile, toStateFile } from './jobFold.ts';
import type { PerJobFileProjectionOptions } from './perJobFileProjection.ts';
import { PerJobFileProjection } from './perJobFileProjection.ts';
import { readJobEvents, withGapsFilled } from './storeGaps.ts';

export interface StateProjectionOptions extends PerJobFileProjectionOptions {
  /** Job states kept in memory. Default 1 000. */
  cacheSize?: number;
  /** Called with a job's state once its files for a batch are written (a rebuild hands it to the read model). */
  onJobFolded?(jobId: string, state: JobState): void;
}

interface Loaded {
  state: JobState;
  /** Gate files to (re)write because the state was rebuilt from the store. */
  gateWrites: Map<string, number>;
}

/**
 * `runs/<id>/state.json` and `runs/<id>/gates/<gate>.json`: whole JSON, each written atomically, once per
 * job per batch (the batch's final state). Gate files are written before `state.json`, whose `seq` marks
 * what the job's files reflect: a crash in between replays the batch and rewrites the same bytes.
 */
export class StateProjection extends PerJobFileProjection {
  readonly #options: StateProjectionOptions;
  readonly #cache: LruMap<string, JobState>;
  /** The inode of each cached job's run dir when its files were last written. */
  readonly #runDirs: LruMap<string, number>;

  constructor(options: StateProjectionOptions) {
    super(options.name ?? 'state', options);
    this.#options = options;
    this.#cache = new LruMap(options.cacheSize ?? 1000);
    this.#runDirs = new LruMap(options.cacheSize ?? 1000);
  }

  async close(): Promise<void> {
    this.#cache.clear();
    this.#runDirs.clear();
  }

  protected async projectJob(jobId: string, events: readonly JobEvent[]): Promise<void> {
    const paths = runPaths(this.#options.runsDir, jobId);
    try {
      const cached = this.#cache.get(jobId);
      const sync = this.#options.sync ?? true;
      // A rebuild's aside copy (not synced) has no files of a job whose first event is in the batch: none
      // is looked for, and each is written new in place (`writeNewFile`), no temp file, no rename.
      const isNew = !sync && !cached && (events[0] as JobEvent).seq === 0;
      const loaded: Loaded = cached
        ? { state: cached, gateWrites: new Map() }
        : isNew
          ? { state: initialState(), gateWrites: new Map() }
          : await this.#load(jobId, paths.state, (events[0] as JobEvent).seq);
      const fresh = await withGapsFilled(
        this.#options.store,
        jobId,
        loaded.state.seq,
        events,
        this.#options.logger,
      );
      if (fresh.length === 0 && loaded.gateWrites.size === 0) {
        this.#cache.set(jobId, loaded.state);
        return;
      }
      const { state, gateWrites } = foldEvents(loaded.state, fresh);
      const gates = new Map([...loaded.gateWrites, ...gateWrites]);
      // The run dir and gates/ are real directories: a link a stage put in their place is removed, never
      // written through. What was under it is gone then: every gate file is written again.
      const runDir = await this.#ownDir(jobId, paths.dir, sync);
      // A run dir made anew since this job's last batch (by the events.jsonl projection, which met a link
      // first) holds no gate files either.
      const known = this.#runDirs.get(jobId);
      let allGates = runDir.replaced || (known !== undefined && known !== runDir.ino);
      this.#runDirs.set(jobId, runDir.ino);
      if (allGates) await this.#addEveryGate(jobId, state.seq, gates);
      const gatesDirIsNew = isNew && gates.size > 0 && (await makeNewDirectory(paths.gatesDir));
      if (
        gates.size > 0 &&
        !gatesDirIsNew &&
        (await this.#ownDir(jobId, paths.gatesDir, sync)).replaced &&
        !allGates
      ) {
        allGates = true;
        await this.#addEveryGate(jobId, state.seq, gates);
      }
      for (const [name, seq] of gates) {
        const gate = ownGate(state.gates, name);
        if (!gate) continue;
        if (!isSafeName(name)) {
          // The decider refuses such pipelines; a gate file could never be written, so do not stall on it.
          this.#options.logger?.error({ job_id: jobId, gate: name }, 'gate file skipped: unsafe gate name');
          continue;
        }
        await this.#write(paths.gate(name), fileJson(toGateFile(jobId, gate, seq)), isNew, sync);
      }
      await this.#write(paths.state, fileJson(toStateFile(jobId, state)), isNew, sync);
      this.#cache.set(jobId, state);
      this.#options.onJobFolded?.(jobId, state);
    } catch (e) {
      this.#cache.delete(jobId);
      throw e;
    }
  }

  /** `writeFileAtomic`, or for a new job of a rebuild's aside copy a file written new in place when the name is free. */
  async #write(path: string, data: string, isNew: boolean, sync: boolean): Promise<void> {
    if (!(isNew && (await writeNewFile(path, data)))) await writeFileAtomic(path, data, { sync });
  }

  /** Every gate that has a file in the job's fold up to `seq`, into `gates` (name -> the seq it is as of). */
  async #addEveryGate(jobId: string, seq: number, gates: Map<string, number>): Promise<void> {
    for (const [name, at] of (await this.#foldFromStore(jobId, seq + 1)).gateWrites) gates.set(name, at);
  }

  /** The job folded from the store's events before `untilSeq`, with every gate it has a file for. */
  async #foldFromStore(jobId: string, untilSeq: number): Promise<Loaded & { events: number }> {
    const history = await readJobEvents(this.#options.store, jobId, 0, untilSeq);
    return { ...foldEvents(initialState(), history), events: history.length };
  }

  /** `ownDirectory`, warning when a stage had put something else there. */
  async #ownDir(jobId: string, dir: string, sync: boolean): Promise<{ replaced: boolean; ino: number }> {
    const { found, ino } = await ownDirectory(dir, sync);
    if (found)
      this.#options.logger?.warn(
        { job_id: jobId, dir: relative(this.#options.runsDir, dir), found },
        'state projection: removed what a stage put in place of a run directory',
      );
    return { replaced: found !== null, ino };
  }

  /**
   * The job's state before `firstSeq`: `state.json` when it is whole and has a seq; else (missing,
   * truncated, unreadable) folded from the store's events before `firstSeq`, and then every gate file is
   * rewritten too.
   */
  async #load(jobId: string, path: string, firstSeq: number): Promise<Loaded> {
    const fromFile = await readStateFile(path, jobId);
    if (fromFile) return { state: fromFile, gateWrites: new Map() };
    if (firstSeq === 0) return { state: initialState(), gateWrites: new Map() };
    const { state, gateWrites, events } = await this.#foldFromStore(jobId, firstSeq);
    this.#options.logger?.info({ job_id: jobId, events }, 'state.json rebuilt from the store');
    return { state, gateWrites };
  }
}

async function readStateFile(path: string, jobId: string): Promise<JobState | null> {
  // A link, FIFO or hard link a stage put in its place is not read (a FIFO would hold the read for good):
  // the state is folded from the store instead, and the file written anew over the name.
  const bytes = await readPrivateIfPresent(path, 'state.json');
  if (bytes === null || isUnsafeFileError(bytes)) return null;
  try {
    const value = JSON.parse(bytes.toString('utf8')) as Partial<JobState> | null;
    if (value && typeof value === 'object' && typeof value.seq === 'number' && value.job_id === jobId)
      return value as JobState;
  } catch {
    // not whole JSON: rebuilt from the store
  }
  return null;
}
