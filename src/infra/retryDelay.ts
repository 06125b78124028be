import { setTimeout as sleep } from 'node:timers/promises';

/** Waits between attempts: the first is `minMs`, each further one twice as long, never more than `maxMs`. */
export interface RetryBackoff {
  minMs?: number;
  maxMs?: number;
}

/**
 * The process's one rule for retrying a store (or a projection) that failed: capped doubling, back to the
 * first wait once an attempt makes progress.
 */
export class RetryDelay {
  readonly #minMs: number;
  readonly #maxMs: number;
  #nextMs: number;

  constructor(backoff: RetryBackoff = {}, defaults: Required<RetryBackoff> = { minMs: 100, maxMs: 10_000 }) {
    this.#minMs = backoff.minMs ?? defaults.minMs;
    this.#maxMs = Math.max(this.#minMs, backoff.maxMs ?? defaults.maxMs);
    this.#nextMs = this.#minMs;
  }

  /** The wait before the next attempt; the one after it doubles. */
  next(): number {
    const ms = this.#nextMs;
    this.#nextMs = Math.min(ms * 2, this.#maxMs);
    return ms;
  }

  /** An attempt made progress: the next failure waits the first delay again. */
  reset(): void {
    this.#nextMs = this.#minMs;
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts; never rejects. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => {});
}
