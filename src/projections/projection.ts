import type { JobEvent } from '../domain/events.ts';
import type { StoredStageLog } from '../infra/eventstore/stageLogStreams.ts';

/**
 * One consumer of the job events, fed by the ProjectionRunner in `$all` order. `apply` must be idempotent:
 * after a crash the runner replays from the lowest checkpoint of all projections, so a projection sees
 * again events it has already applied and skips them (by its checkpoint, or by the per-job `seq` it wrote).
 */
export interface Projection {
  readonly name: string;
  /** The position of the last event fully applied (durable), `null` before any. */
  checkpoint(): Promise<string | null>;
  /** Applies a batch of events in position order; resolves once the result and the checkpoint are durable. */
  apply(batch: readonly JobEvent[]): Promise<void>;
  /**
   * Stage log records (the `joblog-` streams) of the same stretch of `$all`, in position order; only a
   * projection that has this method is fed them (before `apply` of the stretch's job events, if any).
   */
  applyLogs?(records: readonly StoredStageLog[]): Promise<void>;
  close(): Promise<void>;
}
