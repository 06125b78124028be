import type { Logger } from 'pino';
import type { RetryBackoff } from '../infra/retryDelay.ts';
import { pause, RetryDelay } from '../infra/retryDelay.ts';
import { maxPosition } from './positions.ts';
import type { Projection } from './projection.ts';
import type { ProjectionBatch } from './projectionBatch.ts';

export interface ProjectionStatus {
  name: string;
  /** Position of the last event applied, null before any. */
  checkpoint: string | null;
  /** Message of the last failed `apply`, cleared by the next success. */
  last_error: string | null;
  /** ISO time of the last successful `apply` (or of the last failure, while failing). */
  updated_at: string | null;
  /** Consecutive failures of the batch in flight. */
  failures: number;
}

export interface ProjectionApplierOptions {
  projections: readonly Projection[];
  logger?: Logger | undefined;
  /** Backoff after a failed `apply`; default 100 ms .. 30 s. */
  retry?: RetryBackoff | undefined;
  /** A projection failed a batch; it is retried after `retryInMs`. */
  onError: (name: string, error: unknown, retryInMs: number) => void;
}

export const PROJECTION_RETRY_DEFAULTS = { minMs: 100, maxMs: 30_000 };

/**
 * Feeds a batch to each projection in turn and keeps each one's status. A projection that fails is retried
 * on the same batch, with backoff, for as long as it takes: an event is never skipped, and the later
 * projections wait (order is kept).
 */
export class ProjectionApplier {
  readonly #o: ProjectionApplierOptions;
  readonly #status = new Map<string, ProjectionStatus>();

  constructor(options: ProjectionApplierOptions) {
    this.#o = options;
    for (const p of options.projections)
      this.#status.set(p.name, {
        name: p.name,
        checkpoint: null,
        last_error: null,
        updated_at: null,
        failures: 0,
      });
  }

  status(): ProjectionStatus[] {
    return this.#o.projections.map((p) => ({ ...this.#statusOf(p) }));
  }

  /** The projections' stored checkpoints, noted in their status. */
  async readCheckpoints(): Promise<(string | null)[]> {
    const checkpoints: (string | null)[] = [];
    for (const p of this.#o.projections) {
      const checkpoint = await p.checkpoint();
      checkpoints.push(checkpoint);
      this.#statusOf(p).checkpoint = checkpoint;
    }
    return checkpoints;
  }

  /** Applies the batch to every projection; false when `signal` aborted while one was retrying. */
  async apply(batch: ProjectionBatch, signal: AbortSignal): Promise<boolean> {
    const last = batch.last;
    if (last === null) return true;
    for (const projection of this.#o.projections)
      if (!(await this.#applyWithRetry(projection, batch, last, signal))) return false;
    return true;
  }

  async #applyWithRetry(
    projection: Projection,
    batch: ProjectionBatch,
    last: string,
    signal: AbortSignal,
  ): Promise<boolean> {
    const status = this.#statusOf(projection);
    const delay = new RetryDelay(this.#o.retry, PROJECTION_RETRY_DEFAULTS);
    for (;;) {
      try {
        // Logs first: a projection taking both moves its checkpoint past the whole stretch only at the end.
        if (batch.logs.length > 0) await projection.applyLogs?.(batch.logs);
        if (batch.events.length > 0) await projection.apply(batch.events);
        status.checkpoint = maxPosition(status.checkpoint, last);
        status.last_error = null;
        status.failures = 0;
        status.updated_at = new Date().toISOString();
        return true;
      } catch (error) {
        const retryInMs = delay.next();
        status.last_error = error instanceof Error ? error.message : String(error);
        status.failures++;
        status.updated_at = new Date().toISOString();
        this.#o.logger?.error(
          {
            err: error,
            projection: projection.name,
            from: batch.events[0]?.position ?? batch.logs[0]?.position,
            to: last,
            retry_in_ms: retryInMs,
          },
          'projections: batch failed, retrying',
        );
        this.#o.onError(projection.name, error, retryInMs);
        if (signal.aborted) return false;
        await pause(retryInMs, signal);
        if (signal.aborted) return false;
      }
    }
  }

  #statusOf(projection: Projection): ProjectionStatus {
    return this.#status.get(projection.name) as ProjectionStatus;
  }
}
