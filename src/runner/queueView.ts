import type { Logger } from 'pino';
import type { JobState } from '../domain/jobState.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import { followLog } from '../infra/eventstore/followLog.ts';
import { pause, RetryDelay } from '../infra/retryDelay.ts';
import type { QueueInfo } from './jobBook.ts';
import { JobBook } from './jobBook.ts';
import { QUEUE_FRONT_STREAM } from './queueFront.ts';
import type { QueueInfoPort } from './queueInfoPort.ts';
import type { QueueLogItem } from './queueLogItem.ts';
import { readQueueLog } from './queueLogItem.ts';

export interface QueueViewOptions {
  store: EventStore;
  lanes: number;
  gateHoldsLane: boolean;
  /** A job's state from its stream, for an event the fold cannot place (a finished job resumed). */
  load: (jobId: string) => Promise<JobState>;
  logger?: Logger;
}

/**
 * Queue position and lane as the log says, in any process: the runner's own fold (`JobBook` over the job
 * streams and the queue-front requests, in `$all` order, from the start), without the runner. Lanes go to
 * jobs in the order the log shows them taking one, so every process that folds the same log shows the same
 * lane; the leader's runner folds it the same way. Until it has caught up with the log it answers nothing
 * (job views then leave the fields out, as they did on a standby).
 */
export class QueueView implements QueueInfoPort {
  readonly #o: QueueViewOptions;
  readonly #book: JobBook;
  readonly #abort = new AbortController();
  #loop: Promise<void> | null = null;
  #caughtUp = false;

  constructor(options: QueueViewOptions) {
    this.#o = options;
    this.#book = new JobBook({ lanes: options.lanes, gateHoldsLane: options.gateHoldsLane });
  }

  start(): void {
    this.#loop ??= this.#follow();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  queueInfo(jobId: string): QueueInfo | undefined {
    return this.#caughtUp ? this.#book.queueInfo(jobId) : undefined;
  }

  async #follow(): Promise<void> {
    const signal = this.#abort.signal;
    const batches = followLog(this.#o.store, {
      filter: { streamNamePrefix: [JOB_STREAM_PREFIX, QUEUE_FRONT_STREAM] },
      signal,
      decode: readQueueLog,
      onError: (error, retryInMs) =>
        this.#o.logger?.error(
          { err: error, retry_in_ms: retryInMs },
          'queue view: subscription failed, reopening',
        ),
    });
    for await (const batch of batches) {
      for (const item of batch.events) if (!(await this.#foldWithRetry(item, signal))) return;
      if (batch.caughtUp) this.#caughtUp = true;
    }
  }

  /** A job the fold must load from its stream is loaded again after a wait until it can be; false: stopped. */
  async #foldWithRetry(item: QueueLogItem, signal: AbortSignal): Promise<boolean> {
    const delay = new RetryDelay();
    for (;;) {
      try {
        await this.#fold(item);
        return true;
      } catch (error) {
        const retryInMs = delay.next();
        this.#o.logger?.error(
          { err: error, retry_in_ms: retryInMs },
          'queue view: cannot load a job, retrying',
        );
        await pause(retryInMs, signal);
        if (signal.aborted) return false;
      }
    }
  }

  async #fold(item: QueueLogItem): Promise<void> {
    if (item.kind === 'front') {
      this.#book.toFront(item.request.job_id, item.at, item.request.requested_by);
      return;
    }
    const event = item.event;
    if (this.#book.apply(event) === 'gap')
      this.#book.put(event.job_id, await this.#o.load(event.job_id), BigInt(event.position));
  }
}
