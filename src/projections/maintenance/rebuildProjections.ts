import { mkdir, rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { OperatorError } from '../../domain/errors.ts';
import type { EventStore } from '../../infra/eventstore/eventStore.ts';
import { PRIVATE_DIR_MODE } from '../../infra/files/privateFile.ts';
import { stagingDir } from '../../infra/files/runsLayout.ts';
import type { LeaseHolder, LeaseRecord } from '../../infra/leases/lmdbLeases.ts';
import { newLeaseHolder } from '../../infra/leases/lmdbLeases.ts';
import { ProjectionLeases, REBUILD_LEASE, WRITER_LEASE } from '../../infra/leases/projectionLeases.ts';
import type { Projection } from '../index.ts';
import { JsonlProjection, ReadModelStore, StageLogProjection, StateProjection, syncTree } from '../index.ts';
import type { FeedOptions } from './feedProjections.ts';
import { feedProjections } from './feedProjections.ts';
import { GenerationWorker } from './generationWorker.ts';
import { StagedCheckpoints } from './stagedCheckpoints.ts';
import { swapRunFiles } from './swapRunFiles.ts';

export const PROJECTION_NAMES = ['jsonl', 'state', 'readmodel', 'logs'] as const;
export type ProjectionName = (typeof PROJECTION_NAMES)[number];

const STAGED_CHECKPOINT = { jsonl: 'rebuild:jsonl', state: 'rebuild:state', logs: 'rebuild:logs' } as const;
const FILE_PROJECTIONS = ['jsonl', 'state', 'logs'] as const;

export type RebuildPhase = 'building' | 'waiting_for_writer' | 'swapping' | 'done';

export interface RebuildOptions {
  store: EventStore;
  dataDir: string;
  runsDir: string;
  names: readonly ProjectionName[];
  logger?: Logger;
  batchSize?: number;
  /** After each applied batch: the position reached and the store head when the rebuild started. */
  onProgress?(position: string, head: string | null): void;
  onPhase?(phase: RebuildPhase, detail?: LeaseRecord): void;
  /** How long to wait for a serving process to hand the writer lease over. Default 30 s. */
  handoverTimeoutMs?: number;
  /** TTL of the leases this rebuild holds (renewed every third of it). Default 30 s. */
  leaseTtlMs?: number;
  signal?: AbortSignal;
}

export interface RebuildResult {
  names: ProjectionName[];
  /** Everything up to this position is in the swapped-in projections (null: empty store). */
  position: string | null;
  /** The read model generation now active (when the read model was rebuilt). */
  generation: number | null;
  previousGeneration: number | null;
  /** Jobs the rebuild produced files for; of those, jobs whose live files differed (replaced); jobs whose files were removed. */
  jobs: number;
  changedJobs: number;
  removedJobs: number;
  durationMs: number;
  /** How long the projection writer (a running server, if any) was paused for the swap. */
  pausedMs: number;
}

/** Another rebuild (or a retention sweep) holds the rebuild lease. */
export class RebuildBusyError extends OperatorError {
  constructor(readonly holder: LeaseRecord) {
    super(
      'rebuild_busy',
      `another ${holder.role} is running (pid ${holder.pid} on ${holder.host}, since ${holder.acquired_at})`,
      'conflict',
    );
  }
}

export class RebuildAbortedError extends OperatorError {
  constructor() {
    super('rebuild_aborted', 'rebuild interrupted; the live projections were not touched', 'aborted');
  }
}

/**
 * Rebuilds projections from position 0 into a fresh location — job files under `runs/.rebuild/`, the read
 * model into the inactive generation — while the live ones keep serving; once caught up, takes the writer
 * lease (a running server pauses its projections and hands it over), catches up the last events, swaps
 * (file renames, then checkpoints and the active generation in one LMDB transaction) and gives the lease
 * back. See docs/decisions/0007.
 */
export async function rebuildProjections(options: RebuildOptions): Promise<RebuildResult> {
  const started = Date.now();
  const names = PROJECTION_NAMES.filter((n) => options.names.includes(n));
  const ttl = options.leaseTtlMs ?? 30_000;
  const rms = ReadModelStore.open(options.dataDir);
  const leases = new ProjectionLeases(rms.env);
  const me = newLeaseHolder('rebuild');
  let holdsWriter = false;
  let built: Built | undefined;
  const staging = stagingDir(options.runsDir);
  // Asynchronous: the read model thread holds LMDB's write lock for most of the build.
  const renew = setInterval(() => {
    leases.renewLater(REBUILD_LEASE, me, ttl).catch(() => {});
    if (holdsWriter) leases.renewLater(WRITER_LEASE, me, ttl).catch(() => {});
  }, ttl / 3);
  try {
    if (!leases.tryAcquire(REBUILD_LEASE, me, ttl))
      throw new RebuildBusyError(leases.read(REBUILD_LEASE) as LeaseRecord);
    const files = FILE_PROJECTIONS.some((name) => names.includes(name));
    const previousGeneration = names.includes('readmodel') ? rms.generation() : null;
    const generation = previousGeneration === null ? null : previousGeneration === 1 ? 2 : 1;

    // A fresh location: whatever an interrupted rebuild left there is dropped first.
    if (files) {
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { recursive: true, mode: PRIVATE_DIR_MODE });
    }
    if (generation !== null) await rms.clearGeneration(generation);
    for (const key of Object.values(STAGED_CHECKPOINT)) await rms.checkpoints.clear(key);

    built = buildProjections(options, new StagedCheckpoints(rms.checkpoints.db), staging, names, generation);
    const head = await options.store.headPosition();
    const feed: FeedOptions = {
      store: options.store,
      projections: built.projections,
      chunkSize: options.batchSize ?? DEFAULT_CHUNK,
      logger: options.logger,
      onChunk: (position) => options.onProgress?.(position, head),
      interrupted: () => (options.signal?.aborted ? new RebuildAbortedError() : null),
    };
    options.onPhase?.('building');
    let last = await feedProjections(feed, null);
    // Nothing was synced while building: make it durable now, while the live projections still run, so
    // that the pause below only syncs what the last events add.
    let position = await makeDurable(built, files ? staging : null);

    holdsWriter = await takeWriterLease(leases, me, ttl, options);
    const pauseStarted = Date.now();
    options.onPhase?.('swapping');
    // The writer is paused: nothing else writes projections now. Apply what was appended meanwhile.
    last = await feedProjections(feed, last);
    position = await makeDurable(built, files ? staging : null);
    throwIfAborted(options.signal);

    const swapped = files
      ? await swapRunFiles(staging, options.runsDir, {
          jsonl: names.includes('jsonl'),
          state: names.includes('state'),
          logs: names.includes('logs'),
        })
      : { jobs: 0, changed: 0, removed: 0 };
    const staged = {
      jsonl: built.checkpoints.get(STAGED_CHECKPOINT.jsonl),
      state: built.checkpoints.get(STAGED_CHECKPOINT.state),
      logs: built.checkpoints.get(STAGED_CHECKPOINT.logs),
    };
    rms.env.transactionSync(() => {
      for (const name of FILE_PROJECTIONS) {
        if (!names.includes(name)) continue;
        const value = staged[name];
        if (value === null) rms.checkpoints.db.removeSync(name);
        else rms.checkpoints.db.putSync(name, value);
        rms.checkpoints.db.removeSync(STAGED_CHECKPOINT[name]);
      }
      if (generation !== null) rms.meta.putSync(ReadModelStore.GENERATION_KEY, generation);
    });
    leases.release(WRITER_LEASE, me);
    holdsWriter = false;
    const pausedMs = Date.now() - pauseStarted;

    await closeAll(built);
    built = undefined;
    if (previousGeneration !== null) await rms.clearGeneration(previousGeneration);
    if (files) await rm(staging, { recursive: true, force: true });
    options.onPhase?.('done');
    return {
      names: [...names],
      position: position ?? staged.jsonl ?? staged.state ?? staged.logs ?? last ?? null,
      generation,
      previousGeneration,
      jobs: swapped.jobs,
      changedJobs: swapped.changed,
      removedJobs: swapped.removed,
      durationMs: Date.now() - started,
      pausedMs,
    };
  } finally {
    clearInterval(renew);
    if (built) await closeAll(built).catch(() => {});
    if (holdsWriter) leases.release(WRITER_LEASE, me);
    leases.release(REBUILD_LEASE, me);
    await rms.close();
  }
}

/** Events per chunk fed to the projections: large, so that each file is written and each read model
 * transaction committed rarely; bounded, so that memory does not grow with the log. */
const DEFAULT_CHUNK = 10_000;

/** The projections a rebuild feeds, writing into the aside location. */
interface Built {
  projections: Projection[];
  generation: GenerationWorker | null;
  /** Where the file projections keep their checkpoints until the swap publishes them. */
  checkpoints: StagedCheckpoints;
}

/**
 * The aside copies: job files under `staging` (one writer per kind of file, in the order the live runner
 * feeds them) without per-file fsync, and the read model generation in large transactions on a worker
 * thread.
 */
function buildProjections(
  options: RebuildOptions,
  checkpoints: StagedCheckpoints,
  staging: string,
  names: readonly ProjectionName[],
  generation: number | null,
): Built {
  const common = {
    runsDir: staging,
    checkpoints,
    store: options.store,
    logger: options.logger,
    sync: false,
  };
  const projections: Projection[] = [];
  if (names.includes('jsonl'))
    projections.push(new JsonlProjection({ ...common, name: STAGED_CHECKPOINT.jsonl }));
  // The read model thread takes the states the state files fold: each event is folded once.
  const builder = generation === null ? null : new GenerationWorker({ dataDir: options.dataDir, generation });
  if (names.includes('state'))
    projections.push(
      new StateProjection({
        ...common,
        name: STAGED_CHECKPOINT.state,
        cacheSize: 2000,
        onJobFolded: builder ? (jobId, state) => builder.folded(jobId, state) : undefined,
      }),
    );
  if (builder) projections.push(builder);
  if (names.includes('logs'))
    projections.push(new StageLogProjection({ ...common, name: STAGED_CHECKPOINT.logs }));
  return { projections, generation: builder, checkpoints };
}

/**
 * One sync of everything written so far: the read model rows, then the files under `staging`. Resolves
 * with the read model generation's checkpoint (null without one).
 */
async function makeDurable(built: Built, staging: string | null): Promise<string | null> {
  const position = (await built.generation?.flush()) ?? null;
  if (staging !== null) await syncTree(staging);
  return position;
}

async function closeAll(built: Built): Promise<void> {
  for (const projection of built.projections) await projection.close();
}

/**
 * The writer lease, free or handed over: when a live process holds it, asks for it and waits until that
 * process has paused its projections and granted it.
 */
async function takeWriterLease(
  leases: ProjectionLeases,
  me: LeaseHolder,
  ttl: number,
  options: RebuildOptions,
): Promise<boolean> {
  const deadline = Date.now() + (options.handoverTimeoutMs ?? 30_000);
  let asked = false;
  for (;;) {
    if (leases.tryAcquire(WRITER_LEASE, me, ttl)) return true;
    if (!asked) {
      leases.request(WRITER_LEASE, me);
      asked = true;
      options.onPhase?.('waiting_for_writer', leases.read(WRITER_LEASE));
    }
    if (Date.now() > deadline || options.signal?.aborted) {
      leases.withdraw(WRITER_LEASE, me);
      throwIfAborted(options.signal);
      const holder = leases.read(WRITER_LEASE);
      throw new OperatorError(
        'handover_timeout',
        `the projection writer (${holder?.role ?? '?'}, pid ${holder?.pid ?? '?'} on ${holder?.host ?? '?'}) did not hand over within ${(options.handoverTimeoutMs ?? 30_000) / 1000}s`,
        'timeout',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new RebuildAbortedError();
}
