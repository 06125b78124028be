/**
 * Callers waiting for a follower of the log to reach a target (a position, a revision): read-your-writes.
 * Each wait resolves true once `settle` finds its target reached, false after its timeout or on `cancelAll`.
 */
export class ReachWaiters<T> {
  readonly #waiters = new Set<{ target: T; resolve: (reached: boolean) => void }>();

  wait(target: T, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter = {
        target,
        resolve: (reached: boolean) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Resolves true every wait whose target `reached` says is reached; the others keep waiting. */
  settle(reached: (target: T) => boolean): void {
    for (const waiter of this.#waiters) if (reached(waiter.target)) waiter.resolve(true);
  }

  /** Resolves false every wait (the follower is closing). */
  cancelAll(): void {
    for (const waiter of this.#waiters) waiter.resolve(false);
  }

  get size(): number {
    return this.#waiters.size;
  }
}
