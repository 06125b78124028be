import type { Logger } from 'pino';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { ActiveGenerationReadModel } from './activeGenerationReadModel.ts';
import { JsonlProjection } from './jsonlProjection.ts';
import { ProjectionRunner } from './projectionRunner.ts';
import type { ProjectionsPort } from './projectionsPort.ts';
import { ProjectionWriterLease } from './projectionWriterLease.ts';
import { ReadModel } from './readModel.ts';
import { ReadModelStore } from './readModelStore.ts';
import { StageLogProjection } from './stageLogProjection.ts';
import { StateProjection } from './stateProjection.ts';

export interface ProjectionsOptions {
  store: EventStore;
  /** `<dataDir>/readmodel` holds the read model, every projection's checkpoint and the writer lease. */
  dataDir: string;
  runsDir: string;
  logger?: Logger;
  batchSize?: number;
  /** How long the writer lease lasts without renewal. Default 15 s. */
  leaseTtlMs?: number;
  /** How often the lease is checked for a handover request (and renewed). Default 200 ms. */
  checkIntervalMs?: number;
  /** The runner's `liveBatchIntervalMs`. Default `LIVE_BATCH_INTERVAL_MS`. */
  liveBatchIntervalMs?: number;
}

/**
 * Under a steady stream of commits the live projections take a batch at most every 25 ms. At 100 events/s
 * to one job this cut their CPU per event from about 4.5 to 2.7 ms (`bench/appendProbe.ts`, decision
 * 0014); a read model query, a file or a read-your-writes answer then trails the log by up to that much
 * more while the stream lasts. SSE streams follow the store, not the projections: they do not wait.
 */
export const LIVE_BATCH_INTERVAL_MS = 25;

export interface Projections {
  runner: ProjectionRunner;
  port: ProjectionsPort;
  /** Queries (polling, listings); reads whichever generation is active. */
  readModel: ReadModel;
  readModelStore: ReadModelStore;
  /**
   * Runs the projections under the writer lease (docs/decisions/0007), as `operator serve` does: taken at
   * once when free, handed over to a rebuild's swap when asked. Without it the runner is started by hand.
   */
  start(): void;
  /** Stops the runner, gives the lease up, closes the projections and the read model env (not the event store). */
  close(): Promise<void>;
}

/**
 * Wires the four projections (jsonl, state, readmodel, logs: fed in that order), their runner and its
 * writer lease. The read model projection follows whichever generation is active, so after a rebuild's swap
 * the runner writes the new one.
 */
export function createProjections(options: ProjectionsOptions): Projections {
  const logger = options.logger?.child({ component: 'projections' });
  const readModelStore = ReadModelStore.open(options.dataDir);
  // A rebuild swaps in generation 1 or 2. Their tables are opened now: a query's read transaction cannot use
  // a database this process opens after the transaction began, so the first query after a swap would fail
  // if the new generation were opened lazily.
  for (const generation of new Set([readModelStore.generation(), 1, 2])) readModelStore.tables(generation);
  const files = {
    runsDir: options.runsDir,
    checkpoints: readModelStore.checkpoints,
    store: options.store,
    logger,
  };
  const jsonl = new JsonlProjection(files);
  const state = new StateProjection(files);
  const logs = new StageLogProjection(files);
  const runner = new ProjectionRunner({
    store: options.store,
    projections: [jsonl, state, new ActiveGenerationReadModel(readModelStore, logger), logs],
    logger,
    batchSize: options.batchSize,
    liveBatchIntervalMs: options.liveBatchIntervalMs ?? LIVE_BATCH_INTERVAL_MS,
  });
  const lease = new ProjectionWriterLease({
    readModelStore,
    runner,
    fileProjections: [jsonl, state, logs],
    logger,
    leaseTtlMs: options.leaseTtlMs,
    checkIntervalMs: options.checkIntervalMs,
  });
  let closed = false;
  return {
    runner,
    port: {
      waitForPosition: (position, timeoutMs) => runner.waitForPosition(position, timeoutMs),
      onApplied: (listener) => runner.onApplied(listener),
      checkpoint: () => runner.checkpoint(),
    },
    readModel: new ReadModel(readModelStore),
    readModelStore,
    start: () => lease.start(),
    async close() {
      if (closed) return;
      closed = true;
      await lease.close();
      await runner.close();
      await readModelStore.close();
    },
  };
}
