import type { Logger } from 'pino';
import type { PipelineDefinition } from '../domain/pipeline.ts';
import type { Config } from '../infra/config/configSchema.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import type { JobCommandHandler } from '../infra/eventstore/jobCommandHandler.ts';
import type { JobSummary, ProjectionsPort } from '../projections/index.ts';
import type { QueueInfoPort } from '../runner/queueInfoPort.ts';
import type { Metrics } from './metrics.ts';
import type { LiveTail } from './sse/liveTail.ts';
import type { SseHub } from './sse/sseHub.ts';

/** What the API reads from the read model: every polling answer comes from here, never from the store. */
export interface JobReadModel {
  getJob(jobId: string): JobSummary | undefined;
  listJobs(query: { status?: string; limit: number; cursor?: string }): {
    jobs: JobSummary[];
    next_cursor: string | null;
  };
  /** Canonical JSON strings, chronological. */
  jobEvents(
    jobId: string,
    query: { after?: number; since?: string; limit: number },
  ): { events: string[]; next_after: number | null; head: number };
  /** `jobEvents` of a job the read model knows, in the same snapshot as its row; undefined otherwise. */
  knownJobEvents(
    jobId: string,
    query: { after?: number; since?: string; limit: number },
  ): { events: string[]; next_after: number | null; head: number } | undefined;
  /** The earliest event (by time) at or after `since` (its position), and the read model's checkpoint. */
  positionSince(since: string): { first: string | null; checkpoint: string | null };
  eventsAfterPosition(
    after: string | null,
    limit: number,
    filter?: { jobId?: string; types?: readonly string[] },
  ): { events: string[]; next_after: string | null };
}

/** Lane and queue facts the runner knows; absent when the process runs no runner. */
export type { QueueInfoPort };

export interface ApiDeps {
  config: Config;
  logger: Logger;
  store: EventStore;
  commands: JobCommandHandler;
  readModel: JobReadModel;
  projections: ProjectionsPort;
  tail: LiveTail;
  hub: SseHub;
  metrics: Metrics;
  pipeline: (name: string) => PipelineDefinition | undefined;
  queue?: QueueInfoPort;
  /**
   * With EventStoreDB: whether this process holds the single-runner lease (`leader`: runs the pipeline
   * runner and webhooks) or not (`standby`). Absent with LMDB, where the one process runs everything.
   */
  leaseRole?: () => 'leader' | 'standby';
  clock: () => Date;
  /** True while the process is shutting down: readiness fails, new streams are refused. */
  isShuttingDown: () => boolean;
  /** Aborted when the server starts to shut down: a long-poll answers with what it has at once. */
  shutdown?: AbortSignal;
}
