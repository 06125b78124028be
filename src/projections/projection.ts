import type { JobEvent } from '../domain/events.ts';
import type { StoredStageLog } from '../infra/eventstore/stageLogStreams.ts';

/**
 * One consumer of the job events, fed by the ProjectionRunner in `$all` order. `apply` must be idempotent:
 * after a crash the runner replays from the lowest checkpoint of all projections, so a projection sees
 * again events it has already applied and skips them (by its checkpoint, or by the per-job `seq` it wrote).
 */
export interface Projection {
  readonly name: string;
  /**
   * The position of the last event fully applied, `null` before any: durable, or (a projection with
   * `sync`) durable once `sync` resolves.
   */
  checkpoint(): Promise<string | null>;
  /**
   * Applies a batch of events in position order; resolves once the result and the checkpoint are durable,
   * or, for a projection with `sync`, once the result is written (it syncs in groups).
   */
  apply(batch: readonly JobEvent[]): Promise<void>;
  /**
   * A projection that syncs in groups: makes everything applied durable, checkpoint included. The runner
   * calls it when it stops (before the writer lease is handed over), `close` too.
   */
  sync?(): Promise<void>;
  /**
   * Stage log records (the `joblog-` streams) of the same stretch of `$all`, in position order; only a
   * projection that has this method is fed them (before `apply` of the stretch's job events, if any).
   */
  applyLogs?(records: readonly StoredStageLog[]): Promise<void>;
  close(): Promise<void>;
}
