import type { Logger } from 'pino';
import type { EventStore, RecordedEvent } from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import type { FollowOptions, LogFollow } from '../infra/eventstore/followLog.ts';
import { followLog, followStream } from '../infra/eventstore/followLog.ts';
import { toJobEvent } from '../infra/eventstore/jobEvents.ts';
import { ReachWaiters } from '../infra/reachWaiters.ts';
import { pause, RetryDelay } from '../infra/retryDelay.ts';
import type { WebhookLog } from './webhookLog.ts';
import type { WebhookFeedItem, WebhookProjection } from './webhookProjection.ts';
import type { WebhookStore } from './webhookStore.ts';

export interface WebhookFollowerOptions {
  store: EventStore;
  log: WebhookLog;
  webhookStore: WebhookStore;
  projection: WebhookProjection;
  /** False (webhooks not enabled here): only the registry is followed, nothing is queued. */
  outbox: boolean;
  logger?: Logger;
  batchSize?: number;
}

/**
 * Feeds the webhook projection from the store, in every process: `$all` filtered to job streams and the
 * webhook streams, from the outbox checkpoint (or, with the outbox off, the registry stream alone, from the
 * last registry revision applied). Reopens after a failure; a batch that fails is retried, never skipped.
 */
export class WebhookFollower {
  readonly #o: WebhookFollowerOptions;
  #loop: Promise<void> | null = null;
  #abort = new AbortController();
  readonly #waiters = new ReachWaiters<number>();

  constructor(options: WebhookFollowerOptions) {
    this.#o = options;
  }

  get running(): boolean {
    return this.#loop !== null;
  }

  start(): void {
    if (this.#loop) return;
    this.#abort = new AbortController();
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
    });
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  /** Resolves true once the registry event at `revision` is applied here (read-your-writes), false after `timeoutMs`. */
  waitForRegistry(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.#o.webhookStore.registryRevision() >= revision) return Promise.resolve(true);
    return this.#waiters.wait(revision, timeoutMs);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    for await (const batch of this.#follow(signal)) {
      const applied = batch.events.length === 0 || (await this.#apply(batch.events, signal));
      if (!applied) return;
    }
  }

  #follow(signal: AbortSignal): LogFollow<WebhookFeedItem> {
    const { store, log, webhookStore } = this.#o;
    const options: FollowOptions<WebhookFeedItem> = {
      signal,
      maxBatch: this.#o.batchSize ?? 500,
      decode: (recorded) => this.#item(recorded),
      onError: (error, retryInMs) =>
        this.#o.logger?.error(
          { err: error, retry_in_ms: retryInMs },
          'webhooks: following the log failed, reopening',
        ),
    };
    if (!this.#o.outbox) {
      const revision = webhookStore.registryRevision();
      return followStream(store, log.registryStream, { ...options, from: revision < 0 ? 'start' : revision });
    }
    return followLog(store, {
      ...options,
      from: webhookStore.checkpoint() ?? 'start',
      filter: { streamNamePrefix: [JOB_STREAM_PREFIX, log.prefix] },
    });
  }

  #item(recorded: RecordedEvent): WebhookFeedItem | undefined {
    if (recorded.streamId.startsWith(JOB_STREAM_PREFIX)) return { kind: 'job', event: toJobEvent(recorded) };
    const event = this.#o.log.parse(recorded);
    if (!event) return undefined;
    if (recorded.streamId === this.#o.log.registryStream)
      return {
        kind: 'registry',
        position: recorded.position,
        revision: recorded.revision,
        event: event as Extract<WebhookFeedItem, { kind: 'registry' }>['event'],
      };
    return {
      kind: 'checkpoint',
      position: recorded.position,
      event: event as Extract<WebhookFeedItem, { kind: 'checkpoint' }>['event'],
    };
  }

  /** Applies a batch, retrying with backoff until it succeeds; false when the follower stopped first. */
  async #apply(batch: readonly WebhookFeedItem[], signal: AbortSignal): Promise<boolean> {
    const delay = new RetryDelay({ maxMs: 30_000 });
    for (;;) {
      try {
        await this.#o.projection.applyFeed(batch, this.#o.outbox);
        break;
      } catch (error) {
        const retryInMs = delay.next();
        this.#o.logger?.error(
          { err: error, retry_in_ms: retryInMs },
          'webhooks: applying a batch failed, retrying',
        );
        if (signal.aborted) return false;
        await pause(retryInMs, signal);
        if (signal.aborted) return false;
      }
    }
    const revision = this.#o.webhookStore.registryRevision();
    this.#waiters.settle((wanted) => revision >= wanted);
    return true;
  }
}
