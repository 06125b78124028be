import type { Logger } from 'pino';

/** The first wait after the store refused a write for want of space, and the longest. */
export const STORAGE_BACKOFF_FIRST_MS = 1000;
export const STORAGE_BACKOFF_MAX_MS = 60_000;

/**
 * How long the runner waits before it retries a write the store refused for want of space (ENOSPC,
 * MDB_MAP_FULL). A full disk is one condition of the whole process, not one per job: every refused command
 * waits for the same deadline, and each retry that fails after the deadline doubles the wait (1 s, 2 s, ...
 * up to 60 s). The log gets one line per step (none once the wait stays at its longest), and one when a
 * write succeeds again, so a full disk costs a handful of lines instead of one per second.
 */
export class StorageBackoff {
  #delayMs = 0;
  #until = 0;

  constructor(
    private readonly logger: Logger,
    private readonly firstMs = STORAGE_BACKOFF_FIRST_MS,
    private readonly maxMs = STORAGE_BACKOFF_MAX_MS,
  ) {}

  /** A write was refused for want of space at `nowMs`: how long to wait before trying again. */
  refused(nowMs: number, error: unknown): number {
    if (this.#delayMs === 0 || nowMs >= this.#until) {
      const next = this.#delayMs === 0 ? this.firstMs : Math.min(this.#delayMs * 2, this.maxMs);
      if (next !== this.#delayMs)
        this.logger.error(
          { err: error, retry_in_ms: next },
          `runner: the store is out of space; retrying in ${next / 1000}s`,
        );
      this.#delayMs = next;
      this.#until = nowMs + next;
    }
    return this.#until - nowMs;
  }

  /** The wait still ahead at `nowMs`, 0 when not backing off. */
  waitMs(nowMs: number): number {
    return this.#delayMs === 0 ? 0 : Math.max(0, this.#until - nowMs);
  }

  /** A write succeeded: the next refusal starts again from the first wait. */
  succeeded(): void {
    if (this.#delayMs === 0) return;
    this.logger.info({ last_wait_ms: this.#delayMs }, 'runner: the store accepts writes again');
    this.#delayMs = 0;
    this.#until = 0;
  }
}
