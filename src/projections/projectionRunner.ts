import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type {
  EventStore,
  RecordedEvent,
  Subscription,
  SubscriptionItem,
} from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../infra/eventstore/jobEvents.ts';
import type { StoredStageLog } from '../infra/eventstore/stageLogStreams.ts';
import { LOG_STREAM_PREFIX, toStoredStageLog } from '../infra/eventstore/stageLogStreams.ts';
import { ReachWaiters } from '../infra/reachWaiters.ts';
import { comparePositions, maxPosition, minCheckpoint } from './positions.ts';
import type { Projection } from './projection.ts';

export interface ProjectionRunnerOptions {
  store: EventStore;
  /** Fed in this order, each batch to each. */
  projections: readonly Projection[];
  logger?: Logger;
  /** Largest batch; a batch is also flushed whenever the subscription has nothing ready. Default 500. */
  batchSize?: number;
  /** Backoff after a failed `apply`: doubles from `minMs` up to `maxMs`. Default 100 ms .. 30 s. */
  retry?: { minMs?: number; maxMs?: number };
}

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

export interface ProjectionRunnerEvents {
  /** After every projection applied a batch: the position of its last event, and the jobs it touched. */
  applied: [lastPosition: string, jobIds: readonly string[]];
  /** The subscription reached the end of the log once (and everything read so far is applied). */
  caught_up: [position: string | null];
  /** A projection failed a batch; the batch is retried after `retryInMs`. */
  projection_error: [name: string, error: unknown, retryInMs: number];
}

/** `stop()` or `close()` interrupted a wait. */
class Stopped extends Error {}

const NOTHING_READY = Symbol('nothing ready');

/** A stretch of `$all` in position order, split by kind. */
interface Batch {
  events: JobEvent[];
  logs: StoredStageLog[];
  last: string | null;
}

const emptyBatch = (): Batch => ({ events: [], logs: [], last: null });

/**
 * Follows `$all` (job streams, and stage log streams when a projection takes them) from the lowest
 * checkpoint of its projections and feeds them batches in position order. Log records move the applied
 * position like events do, so a chatty stage never reads as projection lag. A projection that fails is retried with backoff on the same batch, for as long as it
 * takes: an event is never skipped, and later projections wait (order is kept).
 */
export class ProjectionRunner extends EventEmitter<ProjectionRunnerEvents> {
  readonly #store: EventStore;
  readonly #projections: readonly Projection[];
  readonly #logger: Logger | undefined;
  readonly #batchSize: number;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  readonly #status = new Map<string, ProjectionStatus>();
  #loop: Promise<void> | null = null;
  #stopping = false;
  #wakeStop: (() => void) | null = null;
  #stopSignal: Promise<typeof NOTHING_READY> = new Promise(() => {});
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
    this.#retryMinMs = options.retry?.minMs ?? 100;
    this.#retryMaxMs = options.retry?.maxMs ?? 30_000;
    this.#prefixes = this.#projections.some((p) => p.applyLogs)
      ? [JOB_STREAM_PREFIX, LOG_STREAM_PREFIX]
      : [JOB_STREAM_PREFIX];
    for (const p of this.#projections)
      this.#status.set(p.name, {
        name: p.name,
        checkpoint: null,
        last_error: null,
        updated_at: null,
        failures: 0,
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
    this.#stopping = false;
    this.#caughtUp = false;
    this.#stopSignal = new Promise((resolve) => {
      this.#wakeStop = () => resolve(NOTHING_READY);
    });
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
    });
  }

  /** Stops after the batch in flight is applied (a retrying batch is abandoned: nothing of it is lost). */
  async stop(): Promise<void> {
    const loop = this.#loop;
    if (!loop) return;
    this.#stopping = true;
    this.#wakeStop?.();
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
    return this.#projections.map((p) => ({ ...(this.#status.get(p.name) as ProjectionStatus) }));
  }

  /** Follows the log until stopped; a failing subscription is reopened (from what is applied) after a pause. */
  async #run(): Promise<void> {
    if (!(await this.#readCheckpoints())) return;
    for (let delay = this.#retryMinMs; !this.#stopping; delay = Math.min(delay * 2, this.#retryMaxMs)) {
      const subscription = this.#store.subscribeToAll({
        fromPosition: this.#applied ?? 'start',
        filter: { streamNamePrefix: this.#prefixes },
      });
      try {
        await this.#follow(subscription, () => {
          delay = this.#retryMinMs;
        });
      } catch (e) {
        if (e instanceof Stopped) break;
        this.#logger?.error({ err: e, retry_in_ms: delay }, 'projections: subscription failed, reopening');
        await Promise.race([sleep(delay), this.#stopSignal]);
      } finally {
        await subscription.close().catch(() => {});
      }
    }
    this.#logger?.info({ applied: this.#applied }, 'projections: stopped');
  }

  /** Starts from the lowest checkpoint; false when stopped before they could be read. */
  async #readCheckpoints(): Promise<boolean> {
    for (let delay = this.#retryMinMs; !this.#stopping; delay = Math.min(delay * 2, this.#retryMaxMs)) {
      try {
        const checkpoints: (string | null)[] = [];
        for (const p of this.#projections) {
          const checkpoint = await p.checkpoint();
          checkpoints.push(checkpoint);
          (this.#status.get(p.name) as ProjectionStatus).checkpoint = checkpoint;
        }
        this.#applied = minCheckpoint(checkpoints);
        this.#logger?.info(
          { from: this.#applied ?? 'start', projections: this.#projections.map((p) => p.name) },
          'projections: starting',
        );
        return true;
      } catch (e) {
        this.#logger?.error({ err: e, retry_in_ms: delay }, 'projections: cannot read the checkpoints');
        await Promise.race([sleep(delay), this.#stopSignal]);
      }
    }
    return false;
  }

  async #follow(subscription: Subscription, onProgress: () => void): Promise<void> {
    const iterator = subscription[Symbol.asyncIterator]();
    let pending: Promise<IteratorResult<SubscriptionItem>> | null = null;
    let batch = emptyBatch();
    const size = () => batch.events.length + batch.logs.length;
    const flush = async () => {
      await this.#flush(batch);
      batch = emptyBatch();
      onProgress();
    };
    while (!this.#stopping) {
      pending ??= iterator.next();
      // With events in hand, flush as soon as nothing more is ready; with none, wait for the log.
      const result = await Promise.race([
        pending,
        size() > 0 ? nextTurn() : this.#stopSignal,
        this.#stopSignal,
      ]);
      if (result === NOTHING_READY) {
        if (size() > 0) await flush();
        continue;
      }
      pending = null;
      if (result.done) break;
      const item = result.value;
      if (item.kind === 'caught_up') {
        await flush();
        this.#markCaughtUp(item.position);
        continue;
      }
      if (!item.event.streamId.startsWith(LOG_STREAM_PREFIX)) batch.events.push(toJobEvent(item.event));
      else {
        const stored = this.#readLog(item.event);
        if (stored) batch.logs.push(stored);
      }
      batch.last = item.event.position;
      if (size() >= this.#batchSize) await flush();
    }
    // Stopping: the events already read are applied, so `stop()` leaves nothing half-done.
    await flush();
  }

  /** A log record this version cannot read is skipped (logged): it must not stop the job projections. */
  #readLog(recorded: RecordedEvent): StoredStageLog | null {
    try {
      return toStoredStageLog(recorded);
    } catch (error) {
      this.#logger?.error({ err: error, position: recorded.position }, 'projections: log record skipped');
      return null;
    }
  }

  async #flush(batch: Batch): Promise<void> {
    const last = batch.last;
    if (last === null) return;
    for (const projection of this.#projections) await this.#applyWithRetry(projection, batch, last);
    this.#applied = maxPosition(this.#applied, last);
    this.#wakeWaiters();
    this.#notify('applied', last, [...new Set(batch.events.map((e) => e.job_id))]);
  }

  async #applyWithRetry(projection: Projection, batch: Batch, last: string): Promise<void> {
    const status = this.#status.get(projection.name) as ProjectionStatus;
    for (let delay = this.#retryMinMs; ; delay = Math.min(delay * 2, this.#retryMaxMs)) {
      try {
        // Logs first: a projection taking both moves its checkpoint past the whole stretch only at the end.
        if (batch.logs.length > 0) await projection.applyLogs?.(batch.logs);
        if (batch.events.length > 0) await projection.apply(batch.events);
        status.checkpoint = maxPosition(status.checkpoint, last);
        status.last_error = null;
        status.failures = 0;
        status.updated_at = new Date().toISOString();
        return;
      } catch (error) {
        status.last_error = error instanceof Error ? error.message : String(error);
        status.failures++;
        status.updated_at = new Date().toISOString();
        this.#logger?.error(
          {
            err: error,
            projection: projection.name,
            from: batch.events[0]?.position ?? batch.logs[0]?.position,
            to: last,
            retry_in_ms: delay,
          },
          'projections: batch failed, retrying',
        );
        this.#notify('projection_error', projection.name, error, delay);
        if (this.#stopping) throw new Stopped();
        const woken = await Promise.race([sleep(delay), this.#stopSignal]);
        if (woken === NOTHING_READY) throw new Stopped();
      }
    }
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

function nextTurn(): Promise<typeof NOTHING_READY> {
  return new Promise((resolve) => setImmediate(() => resolve(NOTHING_READY)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
