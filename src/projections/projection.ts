import type { JobEvent } from '../domain/events.ts';

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
  close(): Promise<void>;
}
