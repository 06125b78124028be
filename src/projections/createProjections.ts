import type { Logger } from 'pino';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { JsonlProjection } from './jsonlProjection.ts';
import { ProjectionRunner } from './projectionRunner.ts';
import { ReadModel } from './readModel.ts';
import { ReadModelProjection } from './readModelProjection.ts';
import { ReadModelStore } from './readModelStore.ts';
import { StageLogProjection } from './stageLogProjection.ts';
import { StateProjection } from './stateProjection.ts';

export interface ProjectionsOptions {
  store: EventStore;
  /** `<dataDir>/readmodel` holds the read model and every projection's checkpoint. */
  dataDir: string;
  runsDir: string;
  logger?: Logger;
  batchSize?: number;
  /**
   * For a rebuild into a fresh location: the read model generation to write (default: the active one) and
   * the checkpoint keys of the file projections (default `jsonl` and `state`).
   */
  generation?: number;
  checkpointNames?: { jsonl?: string; state?: string; logs?: string };
}

/** The projections as the API sees them (structurally the API's `ProjectionsPort`). */
export interface ProjectionsPort {
  /** true once every projection applied `position`; false after `timeoutMs`. */
  waitForPosition(position: string, timeoutMs: number): Promise<boolean>;
  /** Called after each applied batch; returns the unsubscribe function. */
  onApplied(listener: (position: string) => void): () => void;
  checkpoint(): Promise<string | null>;
}

export interface Projections {
  runner: ProjectionRunner;
  port: ProjectionsPort;
  /** Queries (polling, listings); reads whichever generation is active. */
  readModel: ReadModel;
  readModelStore: ReadModelStore;
  jsonl: JsonlProjection;
  state: StateProjection;
  readmodel: ReadModelProjection;
  logs: StageLogProjection;
  /** Stops the runner, closes the projections and the read model env (not the event store). */
  close(): Promise<void>;
}

/** Wires the four projections (jsonl, state, readmodel, logs: fed in that order) and their runner. */
export function createProjections(options: ProjectionsOptions): Projections {
  const readModelStore = ReadModelStore.open(options.dataDir);
  const logger = options.logger?.child({ component: 'projections' });
  const jsonl = new JsonlProjection({
    runsDir: options.runsDir,
    checkpoints: readModelStore.checkpoints,
    store: options.store,
    logger,
    name: options.checkpointNames?.jsonl,
  });
  const state = new StateProjection({
    runsDir: options.runsDir,
    checkpoints: readModelStore.checkpoints,
    store: options.store,
    logger,
    name: options.checkpointNames?.state,
  });
  const logs = new StageLogProjection({
    runsDir: options.runsDir,
    checkpoints: readModelStore.checkpoints,
    store: options.store,
    logger,
    name: options.checkpointNames?.logs,
  });
  const readmodel = new ReadModelProjection({
    store: readModelStore,
    generation: options.generation,
    logger,
  });
  const runner = new ProjectionRunner({
    store: options.store,
    projections: [jsonl, state, readmodel, logs],
    logger,
    batchSize: options.batchSize,
  });
  return {
    runner,
    port: {
      waitForPosition: (position, timeoutMs) => runner.waitForPosition(position, timeoutMs),
      onApplied: (listener) => runner.onApplied(listener),
      checkpoint: () => runner.checkpoint(),
    },
    readModel: new ReadModel(readModelStore),
    readModelStore,
    jsonl,
    state,
    readmodel,
    logs,
    async close() {
      await runner.close();
      await readModelStore.close();
    },
  };
}
