import type { Subscription, SubscriptionItem } from './eventStore.ts';

/**
 * What every adapter's catch-up subscription shares: the items come from one async generator that runs
 * only as far as the consumer pulls, and `close()` ends it at once. An adapter writes `run`.
 */
export abstract class PulledSubscription implements Subscription {
  readonly #abort = new AbortController();
  #items: AsyncGenerator<SubscriptionItem, void, undefined> | undefined;
  #closing: Promise<void> | undefined;

  constructor(private readonly onClose: () => void) {}

  /** The items, read as the consumer pulls; it must return once `signal` aborts. */
  protected abstract run(signal: AbortSignal): AsyncGenerator<SubscriptionItem, void, undefined>;

  [Symbol.asyncIterator](): AsyncIterator<SubscriptionItem> {
    return {
      next: () => this.#generator().next(),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  /** Ends the iteration: a pending `next()`, even one waiting for live events, resolves `done`. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#abort.abort();
      this.onClose();
      this.#closing = (this.#items?.return(undefined) ?? Promise.resolve()).then(() => undefined);
    }
    return this.#closing;
  }

  #generator(): AsyncGenerator<SubscriptionItem, void, undefined> {
    this.#items ??= this.run(this.#abort.signal);
    return this.#items;
  }
}
