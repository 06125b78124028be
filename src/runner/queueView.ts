import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { JobState } from '../domain/jobState.ts';
import type { EventStore, RecordedEvent, Subscription } from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../infra/eventstore/jobEvents.ts';
import type { QueueInfo } from './jobBook.ts';
import { JobBook } from './jobBook.ts';
import { QUEUE_FRONT_STREAM, queueFrontRequest } from './queueFront.ts';
import type { QueueInfoPort } from './queueInfoPort.ts';

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
  #subscription: Subscription | null = null;
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
    await this.#subscription?.close().catch(() => {});
    await this.#loop;
  }

  queueInfo(jobId: string): QueueInfo | undefined {
    return this.#caughtUp ? this.#book.queueInfo(jobId) : undefined;
  }

  async #follow(): Promise<void> {
    const signal = this.#abort.signal;
    let from = 'start';
    for (let delay = 100; !signal.aborted; delay = Math.min(delay * 2, 10_000)) {
      const subscription = this.#o.store.subscribeToAll({
        fromPosition: from,
        filter: { streamNamePrefix: [JOB_STREAM_PREFIX, QUEUE_FRONT_STREAM] },
      });
      this.#subscription = subscription;
      try {
        for await (const item of subscription) {
          if (signal.aborted) break;
          if (item.kind === 'caught_up') {
            this.#caughtUp = true;
            continue;
          }
          await this.#fold(item.event);
          from = item.event.position;
          delay = 100;
        }
      } catch (error) {
        if (!signal.aborted)
          this.#o.logger?.error(
            { err: error, retry_in_ms: delay },
            'queue view: subscription failed, reopening',
          );
      } finally {
        await subscription.close().catch(() => {});
      }
      await sleep(delay, undefined, { signal }).catch(() => {});
    }
  }

  async #fold(recorded: RecordedEvent): Promise<void> {
    const front = queueFrontRequest(recorded);
    if (front) {
      this.#book.toFront(front.job_id, BigInt(recorded.position), front.requested_by);
      return;
    }
    if (!recorded.streamId.startsWith(JOB_STREAM_PREFIX)) return;
    const event = toJobEvent(recorded);
    if (this.#book.apply(event) === 'gap')
      this.#book.put(event.job_id, await this.#o.load(event.job_id), BigInt(event.position));
  }
}
