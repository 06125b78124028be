import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { OperatorError } from '../domain/errors.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import type { Projection } from '../projections/index.ts';
import {
  JsonlProjection,
  ProjectionRunner,
  READ_MODEL_CHECKPOINT,
  ReadModelProjection,
  ReadModelStore,
  StageLogProjection,
  StateProjection,
} from '../projections/index.ts';
import type { LeaseHolder, LeaseRecord } from './projectionLeases.ts';
import { newLeaseHolder, ProjectionLeases, REBUILD_LEASE, WRITER_LEASE } from './projectionLeases.ts';
import { swapRunFiles } from './swapRunFiles.ts';

export const PROJECTION_NAMES = ['jsonl', 'state', 'readmodel', 'logs'] as const;
export type ProjectionName = (typeof PROJECTION_NAMES)[number];

/** Where a rebuild writes job files before the swap: inside the runs dir (same filesystem, so renames). */
export const STAGING_DIR = '.rebuild';
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
      409,
    );
  }
}

export class RebuildAbortedError extends OperatorError {
  constructor() {
    super('rebuild_aborted', 'rebuild interrupted; the live projections were not touched', 499);
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
  let runner: ProjectionRunner | undefined;
  const staging = join(options.runsDir, STAGING_DIR);
  const renew = setInterval(() => {
    leases.renew(REBUILD_LEASE, me, ttl);
    if (holdsWriter) leases.renew(WRITER_LEASE, me, ttl);
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
      await mkdir(staging, { recursive: true });
    }
    if (generation !== null) await rms.clearGeneration(generation);
    for (const key of Object.values(STAGED_CHECKPOINT)) await rms.checkpoints.clear(key);

    const projections = buildProjections(options, rms, staging, names, generation);
    runner = new ProjectionRunner({
      store: options.store,
      projections,
      logger: options.logger,
      batchSize: options.batchSize,
    });
    const head = await options.store.headPosition();
    runner.on('applied', (position) => options.onProgress?.(position, head));
    const caughtUp = new Promise<void>((resolve) => runner?.once('caught_up', () => resolve()));
    options.onPhase?.('building');
    void runner.start();
    await abortable(caughtUp, options.signal);

    holdsWriter = await takeWriterLease(leases, me, ttl, options);
    const pauseStarted = Date.now();
    options.onPhase?.('swapping');
    // The writer is paused: nothing else writes projections now. Apply what was appended meanwhile.
    const last = await options.store.headPosition();
    if (last !== null && !(await runner.waitForPosition(last, 120_000)))
      throw new OperatorError('rebuild_stalled', `the rebuild did not reach position ${last}`, 500);
    await runner.stop();
    throwIfAborted(options.signal);

    const swapped = files
      ? await swapRunFiles(staging, options.runsDir, {
          jsonl: names.includes('jsonl'),
          state: names.includes('state'),
          logs: names.includes('logs'),
        })
      : { jobs: 0, changed: 0, removed: 0 };
    const staged = {
      jsonl: rms.checkpoints.get(STAGED_CHECKPOINT.jsonl),
      state: rms.checkpoints.get(STAGED_CHECKPOINT.state),
      logs: rms.checkpoints.get(STAGED_CHECKPOINT.logs),
    };
    const position =
      generation === null ? null : rms.tables(generation).checkpoints.get(READ_MODEL_CHECKPOINT);
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

    await runner.close();
    runner = undefined;
    if (previousGeneration !== null) await rms.clearGeneration(previousGeneration);
    if (files) await rm(staging, { recursive: true, force: true });
    options.onPhase?.('done');
    return {
      names: [...names],
      position: position ?? staged.jsonl ?? staged.state ?? staged.logs ?? null,
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
    await runner?.close().catch(() => {});
    if (holdsWriter) leases.release(WRITER_LEASE, me);
    leases.release(REBUILD_LEASE, me);
    await rms.close();
  }
}

function buildProjections(
  options: RebuildOptions,
  rms: ReadModelStore,
  staging: string,
  names: readonly ProjectionName[],
  generation: number | null,
): Projection[] {
  const common = {
    runsDir: staging,
    checkpoints: rms.checkpoints,
    store: options.store,
    logger: options.logger,
  };
  const projections: Projection[] = [];
  if (names.includes('jsonl'))
    projections.push(new JsonlProjection({ ...common, name: STAGED_CHECKPOINT.jsonl }));
  if (names.includes('state'))
    projections.push(new StateProjection({ ...common, name: STAGED_CHECKPOINT.state }));
  if (generation !== null)
    projections.push(new ReadModelProjection({ store: rms, generation, logger: options.logger }));
  if (names.includes('logs'))
    projections.push(new StageLogProjection({ ...common, name: STAGED_CHECKPOINT.logs }));
  return projections;
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
        504,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new RebuildAbortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new RebuildAbortedError();
}
