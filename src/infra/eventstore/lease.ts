import { performance } from 'node:perf_hooks';
import type { EventStore, RecordedEvent } from './eventStore.ts';
import { isWrongExpectedRevisionError } from './eventStore.ts';

/** The stream a lease lives in: an ordinary stream, outside the `job-` prefix projections follow. */
export const leaseStreamName = (name: string): string => `lease-${name}`;

export type LeaseState =
  | { held: true; token: number }
  | { held: false; reason: LeaseLossReason | 'not_acquired' };

export type LeaseLossReason = 'taken_over' | 'renew_failed' | 'stopped';

export interface StoreLeaseOptions {
  store: EventStore;
  /** Unique per process, e.g. `${hostname}:${pid}:${uuid}`; written into the lease events for audit. */
  holderId: string;
  /** Which lease; the stream is `lease-<name>`. Default `operator`. */
  name?: string;
  /** How long a silent holder keeps the lease. Default 15 s. */
  ttlMs?: number;
  /** How often the holder renews. Default a third of `ttlMs`. */
  renewEveryMs?: number;
  /** How often a contender looks at the lease. Default `renewEveryMs`. */
  checkEveryMs?: number;
  /** A monotonic clock in ms; only ever compared with itself. Default `performance.now`. */
  clock?: () => number;
  /** Told about every change of state; a listener must not throw. */
  onChange?: (state: LeaseState) => void;
  /** Told about store errors the lease rode out. */
  onError?: (error: unknown) => void;
}

interface LeaseEventData extends Record<string, unknown> {
  holder: string;
  ttl_ms: number;
}

/** The lease stream keeps only its recent history. */
const LEASE_STREAM_MAX_COUNT = 100;

/**
 * "Exactly one process runs the runner and projections", built on the event store port alone, so it works
 * on every adapter. The lease is a stream; taking or renewing it is an append with the expected revision
 * the writer last saw, so of two contenders exactly one succeeds (optimistic concurrency), and the
 * revision of the `lease_acquired` event is a fencing token that grows with every new holder.
 *
 * No clocks are compared across processes. A contender takes the lease over only after it has itself
 * watched the stream stay unchanged for the holder's `ttl_ms`, measured on its own monotonic clock from
 * when it first saw that revision. A holder counts its own time from the moment it *sent* its last
 * successful renewal, and gives the lease up `renewEveryMs` before that same `ttl_ms` runs out when it
 * cannot renew (store unreachable). A contender can only have seen the renewal after it was sent, so the
 * holder has stopped before anyone may start: there is no overlap, with some margin for clock drift.
 *
 * Not to be confused with the leases of one data dir (`LmdbLeases`, src/infra/leases/lmdbLeases.ts: the
 * projection writer, a rebuild, the webhook sender), which are records in an LMDB file that only processes
 * sharing that file see, live while unexpired and their holder's pid exists on this host. This lease is
 * for processes that share nothing but the event store, on any host: it decides which one runs the runner
 * and sends webhooks, and it compares no clocks across processes.
 */
export class StoreLease {
  readonly #store: EventStore;
  readonly #stream: string;
  readonly #holder: string;
  readonly #ttl: number;
  readonly #renewEvery: number;
  readonly #checkEvery: number;
  readonly #clock: () => number;
  readonly #onChange: ((state: LeaseState) => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;

  #state: LeaseState = { held: false, reason: 'not_acquired' };
  /** The revision our last successful append produced (while held). */
  #revision = -1;
  /** What a contender last saw: a revision and when it first saw it. */
  #observed: { revision: number; at: number } | undefined;
  #loop: Promise<void> | undefined;
  #stopping = new AbortController();
  #retentionSet = false;
  #deadline: NodeJS.Timeout | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(options: StoreLeaseOptions) {
    this.#store = options.store;
    this.#stream = leaseStreamName(options.name ?? 'operator');
    this.#holder = options.holderId;
    this.#ttl = options.ttlMs ?? 15_000;
    this.#renewEvery = options.renewEveryMs ?? Math.floor(this.#ttl / 3);
    this.#checkEvery = options.checkEveryMs ?? this.#renewEvery;
    this.#clock = options.clock ?? (() => performance.now());
    this.#onChange = options.onChange;
    this.#onError = options.onError;
    if (!(this.#renewEvery > 0 && this.#renewEvery * 2 <= this.#ttl))
      throw new RangeError('renewEveryMs must be positive and at most half of ttlMs');
  }

  get state(): LeaseState {
    return this.#state;
  }

  get isHeld(): boolean {
    return this.#state.held;
  }

  /** Starts taking part: the lease is acquired when free, renewed while held. Idempotent. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Resolves with the fencing token once this process holds the lease. */
  async waitUntilHeld(signal?: AbortSignal): Promise<number> {
    while (!this.#state.held) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.#waiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    return this.#state.token;
  }

  /**
   * Stops taking part. When held, the lease is released (unless `release: false`, which behaves like a
   * crash: the others wait out the lease time), so a contender can take it over at its next check.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.#stopping.abort();
    await this.#loop;
    if (this.#state.held) {
      if (options.release ?? true) {
        await this.#append('lease_released').catch((error: unknown) => this.#onError?.(error));
      }
      this.#set({ held: false, reason: 'stopped' });
    }
  }

  async #run(): Promise<void> {
    const signal = this.#stopping.signal;
    while (!signal.aborted) {
      try {
        await (this.#state.held ? this.#renew() : this.#contend());
      } catch (error) {
        this.#onError?.(error);
      }
      await sleep(this.#state.held ? this.#renewEvery : this.#checkEvery, signal);
    }
  }

  async #contend(): Promise<void> {
    await this.#ensureRetention();
    const last = await this.#last();
    const now = this.#clock();
    if (last === undefined) return this.#acquire('no_stream', now);
    if (last.type === 'lease_released') return this.#acquire(last.revision, now);
    if (this.#observed?.revision !== last.revision) {
      this.#observed = { revision: last.revision, at: now };
      return;
    }
    const ttl = typeof last.data.ttl_ms === 'number' ? last.data.ttl_ms : this.#ttl;
    if (now - this.#observed.at >= ttl) await this.#acquire(last.revision, now);
  }

  async #acquire(expected: number | 'no_stream', sentAt: number): Promise<void> {
    try {
      const r = await this.#store.append(this.#stream, [this.#event('lease_acquired')], {
        expectedRevision: expected,
      });
      this.#revision = r.nextRevision;
      this.#observed = undefined;
      this.#renewed(sentAt);
      this.#set({ held: true, token: r.nextRevision });
    } catch (error) {
      // Another contender was faster: watch its lease from now on.
      if (!isWrongExpectedRevisionError(error)) throw error;
      this.#observed = undefined;
    }
  }

  async #renew(): Promise<void> {
    const sentAt = this.#clock();
    try {
      const r = await this.#append('lease_renewed');
      if (!this.#state.held) return; // gave up while the append was in flight: stay out
      this.#revision = r.nextRevision;
      this.#renewed(sentAt);
    } catch (error) {
      if (!isWrongExpectedRevisionError(error)) throw error;
      this.#set({ held: false, reason: 'taken_over' });
    }
  }

  /**
   * Arms the holder's own deadline: `ttl - renewEvery` after the last renewal was sent. A timer rather
   * than a check in the loop, so a renewal stuck on an unreachable store cannot keep us holding.
   * Contenders wait the full `ttl` from when they saw this renewal, which is after it was sent.
   */
  #renewed(sentAt: number): void {
    clearTimeout(this.#deadline);
    const left = sentAt + this.#ttl - this.#renewEvery - this.#clock();
    this.#deadline = setTimeout(
      () => {
        if (this.#state.held) this.#set({ held: false, reason: 'renew_failed' });
      },
      Math.max(0, left),
    );
  }

  #append(type: 'lease_renewed' | 'lease_released') {
    return this.#store.append(this.#stream, [this.#event(type)], { expectedRevision: this.#revision });
  }

  #event(type: string) {
    const data: LeaseEventData = { holder: this.#holder, ttl_ms: this.#ttl };
    return { id: crypto.randomUUID(), type, data };
  }

  async #last(): Promise<RecordedEvent | undefined> {
    for await (const e of this.#store.readStream(this.#stream, { direction: 'backwards', maxCount: 1 }))
      return e;
    return undefined;
  }

  async #ensureRetention(): Promise<void> {
    if (this.#retentionSet) return;
    const current = await this.#store.getStreamMetadata(this.#stream);
    if (current.maxCount !== LEASE_STREAM_MAX_COUNT)
      await this.#store.setStreamMetadata(this.#stream, { maxCount: LEASE_STREAM_MAX_COUNT });
    this.#retentionSet = true;
  }

  #set(state: LeaseState): void {
    if (!state.held) clearTimeout(this.#deadline);
    const changed =
      state.held !== this.#state.held ||
      (state.held && this.#state.held && state.token !== this.#state.token);
    this.#state = state;
    if (!changed) return;
    this.#onChange?.(state);
    for (const wake of [...this.#waiters]) wake();
  }
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
