import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { EventStore, Subscription, SubscriptionItem } from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../infra/eventstore/jobEvents.ts';
import { ReachWaiters } from '../infra/reachWaiters.ts';
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

const NOTHING_READY = Symbol('nothing ready');
const nextTurn = () =>
  new Promise<typeof NOTHING_READY>((resolve) => setImmediate(() => resolve(NOTHING_READY)));

/**
 * Feeds the webhook projection from the store, in every process: `$all` filtered to job streams and the
 * webhook streams, from the outbox checkpoint (or, with the outbox off, the registry stream alone, from the
 * last registry revision applied). Reopens after a failure; a batch that fails is retried, never skipped.
 */
export class WebhookFollower {
  readonly #o: WebhookFollowerOptions;
  #loop: Promise<void> | null = null;
  #abort = new AbortController();
  #subscription: Subscription | null = null;
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
    await this.#subscription?.close().catch(() => {});
    await this.#loop;
  }

  /** Resolves true once the registry event at `revision` is applied here (read-your-writes), false after `timeoutMs`. */
  waitForRegistry(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.#o.webhookStore.registryRevision() >= revision) return Promise.resolve(true);
    return this.#waiters.wait(revision, timeoutMs);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    for (let delay = 100; !signal.aborted; delay = Math.min(delay * 2, 10_000)) {
      const subscription = this.#subscribe();
      this.#subscription = subscription;
      try {
        await this.#follow(subscription, () => {
          delay = 100;
        });
      } catch (error) {
        if (!signal.aborted)
          this.#o.logger?.error(
            { err: error, retry_in_ms: delay },
            'webhooks: following the log failed, reopening',
          );
      } finally {
        await subscription.close().catch(() => {});
      }
      await sleep(delay, undefined, { signal }).catch(() => {});
    }
  }

  #subscribe(): Subscription {
    const { store, log, webhookStore } = this.#o;
    if (!this.#o.outbox) {
      const revision = webhookStore.registryRevision();
      return store.subscribeToStream(log.registryStream, { fromRevision: revision < 0 ? 'start' : revision });
    }
    return store.subscribeToAll({
      fromPosition: webhookStore.checkpoint() ?? 'start',
      filter: { streamNamePrefix: [JOB_STREAM_PREFIX, log.prefix] },
    });
  }

  async #follow(subscription: Subscription, onProgress: () => void): Promise<void> {
    const iterator = subscription[Symbol.asyncIterator]();
    const signal = this.#abort.signal;
    const stopped = new Promise<typeof NOTHING_READY>((resolve) =>
      signal.addEventListener('abort', () => resolve(NOTHING_READY), { once: true }),
    );
    let pending: Promise<IteratorResult<SubscriptionItem>> | null = null;
    let batch: WebhookFeedItem[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      await this.#apply(batch);
      batch = [];
      onProgress();
    };
    while (!signal.aborted) {
      pending ??= iterator.next();
      // With items in hand, flush as soon as nothing more is ready; with none, wait for the log.
      const result = await Promise.race([pending, batch.length > 0 ? nextTurn() : stopped, stopped]);
      if (result === NOTHING_READY) {
        await flush();
        continue;
      }
      pending = null;
      if (result.done) break;
      if (result.value.kind === 'caught_up') {
        await flush();
        continue;
      }
      const item = this.#item(result.value.event);
      if (item) batch.push(item);
      if (batch.length >= (this.#o.batchSize ?? 500)) await flush();
    }
    await flush();
  }

  #item(recorded: Extract<SubscriptionItem, { kind: 'event' }>['event']): WebhookFeedItem | undefined {
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

  /** Applies a batch, retrying with backoff until it succeeds or the follower stops. */
  async #apply(batch: readonly WebhookFeedItem[]): Promise<void> {
    const signal = this.#abort.signal;
    for (let delay = 100; ; delay = Math.min(delay * 2, 30_000)) {
      try {
        await this.#o.projection.applyFeed(batch, this.#o.outbox);
        break;
      } catch (error) {
        this.#o.logger?.error(
          { err: error, retry_in_ms: delay },
          'webhooks: applying a batch failed, retrying',
        );
        if (signal.aborted) throw error;
        await sleep(delay, undefined, { signal }).catch(() => {});
        if (signal.aborted) throw error;
      }
    }
    const revision = this.#o.webhookStore.registryRevision();
    this.#waiters.settle((wanted) => revision >= wanted);
  }
}
