import { mkdir } from 'node:fs/promises';
import type { JobEvent } from '../domain/events.ts';
import { initialState } from '../domain/jobDecider.ts';
import { type JobState, ownGate } from '../domain/jobState.ts';
import { ensureDir, writeFileAtomic } from '../infra/files/durableFiles.ts';
import { isUnsafeFileError, PRIVATE_DIR_MODE, readPrivateIfPresent } from '../infra/files/privateFile.ts';
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

  constructor(options: StateProjectionOptions) {
    super(options.name ?? 'state', options);
    this.#options = options;
    this.#cache = new LruMap(options.cacheSize ?? 1000);
  }

  async close(): Promise<void> {
    this.#cache.clear();
  }

  protected async projectJob(jobId: string, events: readonly JobEvent[]): Promise<void> {
    const paths = runPaths(this.#options.runsDir, jobId);
    try {
      const cached = this.#cache.get(jobId);
      const loaded: Loaded = cached
        ? { state: cached, gateWrites: new Map() }
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
      const sync = this.#options.sync ?? true;
      const dir = sync
        ? ensureDir
        : (path: string) => mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE });
      await dir(paths.dir);
      if (gates.size > 0) await dir(paths.gatesDir);
      for (const [name, seq] of gates) {
        const gate = ownGate(state.gates, name);
        if (!gate) continue;
        if (!isSafeName(name)) {
          // The decider refuses such pipelines; a gate file could never be written, so do not stall on it.
          this.#options.logger?.error({ job_id: jobId, gate: name }, 'gate file skipped: unsafe gate name');
          continue;
        }
        await writeFileAtomic(paths.gate(name), fileJson(toGateFile(jobId, gate, seq)), { sync });
      }
      await writeFileAtomic(paths.state, fileJson(toStateFile(jobId, state)), { sync });
      this.#cache.set(jobId, state);
      this.#options.onJobFolded?.(jobId, state);
    } catch (e) {
      this.#cache.delete(jobId);
      throw e;
    }
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
    const history = await readJobEvents(this.#options.store, jobId, 0, firstSeq);
    this.#options.logger?.info(
      { job_id: jobId, events: history.length },
      'state.json rebuilt from the store',
    );
    return foldEvents(initialState(), history);
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
