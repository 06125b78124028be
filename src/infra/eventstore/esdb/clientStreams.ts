import type { ReadableSubscription, StreamingRead } from '@eventstore/db-client';

const ignore = (): void => {};

/** Raised by {@link abortable} when its signal fires. */
export class AbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortError';
  }
}

/**
 * Settles with `promise`, or rejects with {@link AbortedError} as soon as `signal` aborts; a late
 * rejection of the abandoned promise is swallowed.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  promise.catch(ignore);
  if (signal.aborted) return Promise.reject(new AbortedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Iterates a client read (a Readable over one gRPC call) with backpressure: only what the consumer pulls
 * is buffered. The call is cancelled when iteration stops early, fails or the signal aborts, so no
 * server-side read is left open; errors the client emits after that are ignored rather than crashing
 * the process.
 */
export async function* iterateRead<E>(read: StreamingRead<E>, signal?: AbortSignal): AsyncGenerator<E, void> {
  read.on('error', ignore);
  const iterator = read[Symbol.asyncIterator]() as AsyncIterator<E>;
  let finished = false;
  try {
    for (;;) {
      const next = await abortable(iterator.next(), signal);
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!finished) {
      await read.cancel().catch(ignore);
      read.destroy();
    }
  }
}

/** Reads a whole (bounded) client read into memory. */
export async function collectRead<E>(read: StreamingRead<E>, signal?: AbortSignal): Promise<E[]> {
  const out: E[] = [];
  for await (const e of iterateRead(read, signal)) out.push(e);
  return out;
}

/** A client subscription pulled one event at a time; `undefined` when the server ended the call. */
export class LiveReader<E> {
  readonly #iterator: AsyncIterator<E>;
  #closed = false;

  constructor(private readonly subscription: ReadableSubscription<E>) {
    subscription.on('error', ignore);
    this.#iterator = subscription[Symbol.asyncIterator]() as AsyncIterator<E>;
  }

  async next(signal: AbortSignal): Promise<E | undefined> {
    const r = await abortable(this.#iterator.next(), signal);
    return r.done ? undefined : r.value;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.subscription.unsubscribe().catch(ignore);
    this.subscription.destroy();
  }
}
