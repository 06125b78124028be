import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import { followLog } from '../infra/eventstore/followLog.ts';
import { LOG_STREAM_PREFIX } from '../infra/eventstore/stageLogStreams.ts';
import { ReachWaiters } from '../infra/reachWaiters.ts';
import { pause, RetryDelay } from '../infra/retryDelay.ts';
import { comparePositions, maxPosition, minCheckpoint } from './positions.ts';
import type { Projection } from './projection.ts';
import type { ProjectionStatus } from './projectionApplier.ts';
import { PROJECTION_RETRY_DEFAULTS, ProjectionApplier } from './projectionApplier.ts';
import type { ProjectionBatch } from './projectionBatch.ts';
import { projectionItemReader, toProjectionBatch } from './projectionBatch.ts';

export type { ProjectionStatus } from './projectionApplier.ts';

export interface ProjectionRunnerOptions {
  store: EventStore;
  /** Fed in this order, each batch to each. */
  projections: readonly Projection[];
  logger?: Logger;
  /** Largest batch; a batch is also flushed whenever the subscription has nothing ready. Default 500. */
  batchSize?: number;
  /**
   * Backoff after a failed `apply`, and after a store error: doubles from `minMs` up to `maxMs`.
   * Default 100 ms .. 30 s.
   */
  retry?: { minMs?: number; maxMs?: number };
  /**
   * Once caught up, a batch of live events starts at most this long after the one before it: under a steady
   * stream of commits the runner waits out the rest of the interval and then takes everything that came
   * meanwhile as one batch, so what each batch costs (a file write and sync per job, a read model commit,
   * the checkpoints) is shared by more events. The first commit after a quiet spell is applied at once.
   * Default 0: no wait.
   */
  liveBatchIntervalMs?: number;
}

export interface ProjectionRunnerEvents {
  /** After every projection applied a batch: the position of its last event, and the jobs it touched. */
  applied: [lastPosition: string, jobIds: readonly string[]];
  /** The subscription reached the end of the log once (and everything read so far is applied). */
  caught_up: [position: string | null];
  /** A projection failed a batch; the batch is retried after `retryInMs`. */
  projection_error: [name: string, error: unknown, retryInMs: number];
}

/**
 * Follows `$all` (job streams, and stage log streams when a projection takes them) from the lowest
 * checkpoint of its projections and feeds them batches in position order. Log records move the applied
 * position like events do, so a chatty stage never reads as projection lag. A projection that fails is
 * retried with backoff on the same batch, for as long as it takes: an event is never skipped, and later
 * projections wait (order is kept).
 */
export class ProjectionRunner extends EventEmitter<ProjectionRunnerEvents> {
  readonly #store: EventStore;
  readonly #projections: readonly Projection[];
  readonly #logger: Logger | undefined;
  readonly #batchSize: number;
  readonly #liveBatchIntervalMs: number;
  readonly #retry: Required<NonNullable<ProjectionRunnerOptions['retry']>>;
  readonly #applier: ProjectionApplier;
  #loop: Promise<void> | null = null;
  #abort = new AbortController();
  /** Everything at or below it is applied by every projection (filtered-out positions included). */
  #applied: string | null = null;
  #caughtUp = false;
  readonly #waiters = new ReachWaiters<string>();
  readonly #prefixes: readonly string[];

  constructor(options: ProjectionRunnerOptions) {
    super();
    // One listener per waiting long-poll request: many are normal.
    this.setMaxListeners(0);
    this.#store = options.store;
    this.#projections = options.projections;
    this.#logger = options.logger;
    this.#batchSize = options.batchSize ?? 500;
    this.#liveBatchIntervalMs = options.liveBatchIntervalMs ?? 0;
    this.#retry = {
      minMs: options.retry?.minMs ?? PROJECTION_RETRY_DEFAULTS.minMs,
      maxMs: options.retry?.maxMs ?? PROJECTION_RETRY_DEFAULTS.maxMs,
    };
    this.#prefixes = this.#projections.some((p) => p.applyLogs)
      ? [JOB_STREAM_PREFIX, LOG_STREAM_PREFIX]
      : [JOB_STREAM_PREFIX];
    this.#applier = new ProjectionApplier({
      projections: this.#projections,
      logger: this.#logger,
      retry: this.#retry,
      onError: (name, error, retryInMs) => this.#notify('projection_error', name, error, retryInMs),
    });
  }

  /** True once the subscription has reached the end of the log and everything read is applied. */
  get caughtUp(): boolean {
    return this.#caughtUp;
  }

  /** Everything at or below this position is applied by every projection. */
  get appliedPosition(): string | null {
    return this.#applied;
  }

  get running(): boolean {
    return this.#loop !== null;
  }

  /**
   * Starts following the log in the background (the checkpoints are read there, with retries): the
   * promise resolves at once and never rejects, so it may be left unawaited.
   */
  async start(): Promise<void> {
    if (this.#loop) return;
    this.#caughtUp = false;
    this.#abort = new AbortController();
    this.#loop = this.#run(this.#abort.signal).finally(() => {
      this.#loop = null;
    });
  }

  /** Stops after the batch in flight is applied (a retrying batch is abandoned: nothing of it is lost). */
  async stop(): Promise<void> {
    const loop = this.#loop;
    if (!loop) return;
    this.#abort.abort();
    await loop;
  }

  /** Stops, then closes every projection. */
  async close(): Promise<void> {
    await this.stop();
    this.#waiters.cancelAll();
    for (const p of this.#projections) await p.close();
  }

  /**
   * Resolves `true` once every projection has applied the event at `position` (e.g. the position an
   * append returned: read-your-writes), `false` after `timeoutMs`.
   */
  waitForPosition(position: string, timeoutMs: number): Promise<boolean> {
    if (this.#reached(position)) return Promise.resolve(true);
    return this.#waiters.wait(position, timeoutMs);
  }

  /** Calls `listener` after each applied batch; returns the unsubscribe function. */
  onApplied(listener: (lastPosition: string, jobIds: readonly string[]) => void): () => void {
    this.on('applied', listener);
    return () => {
      this.off('applied', listener);
    };
  }

  /**
   * What every projection has applied: the runner's applied position once it runs (it includes the end
   * of the log once caught up), else the lowest stored checkpoint.
   */
  async checkpoint(): Promise<string | null> {
    if (this.#applied !== null) return this.#applied;
    const checkpoints: (string | null)[] = [];
    for (const p of this.#projections) checkpoints.push(await p.checkpoint());
    return minCheckpoint(checkpoints);
  }

  status(): ProjectionStatus[] {
    return this.#applier.status();
  }

  /** Follows the log from what is applied until stopped (followLog reopens a failing subscription). */
  async #run(signal: AbortSignal): Promise<void> {
    if (!(await this.#readCheckpoints(signal))) return;
    const batches = followLog(this.#store, {
      from: this.#applied ?? 'start',
      filter: { streamNamePrefix: this.#prefixes },
      signal,
      maxBatch: this.#batchSize,
      backoff: this.#retry,
      decode: projectionItemReader(this.#logger),
      onError: (error, retryInMs) =>
        this.#logger?.error(
          { err: error, retry_in_ms: retryInMs },
          'projections: subscription failed, reopening',
        ),
    });
    for await (const batch of batches) {
      const started = performance.now();
      if (!(await this.#flush(toProjectionBatch(batch), signal))) break;
      if (batch.caughtUp) this.#markCaughtUp(batch.caughtUp.position);
      // Live events only: history is read in full batches anyway, and a batch without events costs nothing.
      if (this.#caughtUp && batch.last !== null && this.#liveBatchIntervalMs > 0) {
        const rest = started + this.#liveBatchIntervalMs - performance.now();
        if (rest > 0) await pause(rest, signal);
      }
    }
    this.#logger?.info({ applied: this.#applied }, 'projections: stopped');
  }

  /** Starts from the lowest checkpoint; false when stopped before they could be read. */
  async #readCheckpoints(signal: AbortSignal): Promise<boolean> {
    const delay = new RetryDelay(this.#retry);
    while (!signal.aborted) {
      try {
        this.#applied = minCheckpoint(await this.#applier.readCheckpoints());
        this.#logger?.info(
          { from: this.#applied ?? 'start', projections: this.#projections.map((p) => p.name) },
          'projections: starting',
        );
        return true;
      } catch (e) {
        const retryInMs = delay.next();
        this.#logger?.error({ err: e, retry_in_ms: retryInMs }, 'projections: cannot read the checkpoints');
        await pause(retryInMs, signal);
      }
    }
    return false;
  }

  /** False when stopped while a projection was retrying the batch. */
  async #flush(batch: ProjectionBatch, signal: AbortSignal): Promise<boolean> {
    const last = batch.last;
    if (last === null) return true;
    if (!(await this.#applier.apply(batch, signal))) return false;
    this.#applied = maxPosition(this.#applied, last);
    this.#wakeWaiters();
    this.#notify('applied', last, [...new Set(batch.events.map((e) => e.job_id))]);
    return true;
  }

  #markCaughtUp(position: string | null): void {
    // Positions up to the end of the log hold no (further) job event: they count as applied.
    if (position !== null) this.#applied = maxPosition(this.#applied, position);
    const first = !this.#caughtUp;
    this.#caughtUp = true;
    this.#wakeWaiters();
    if (first) {
      this.#logger?.info({ position }, 'projections: caught up');
      this.#notify('caught_up', position);
    }
  }

  /** A listener that throws is logged, and does not stop the runner. */
  #notify<E extends keyof ProjectionRunnerEvents>(event: E, ...args: ProjectionRunnerEvents[E]): void {
    try {
      (this.emit as (event: string, ...rest: unknown[]) => boolean)(event, ...args);
    } catch (e) {
      this.#logger?.error({ err: e, event }, 'projections: a listener threw');
    }
  }

  #reached(position: string): boolean {
    return this.#applied !== null && comparePositions(position, this.#applied) <= 0;
  }

  #wakeWaiters(): void {
    this.#waiters.settle((position) => this.#reached(position));
  }
}
