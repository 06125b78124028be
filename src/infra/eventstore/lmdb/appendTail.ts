/** Called with the new head position (decimal string) after events were appended. */
export type AppendListener = (headPosition: string) => void;

/**
 * The process's wake-up signal for live readers. It carries no events: whoever wakes reads from its own
 * position to the end of the log. Commits made by this process bump it at once; commits made by other
 * processes are noticed by one shared poll of the head position, running only while somebody waits or
 * listens.
 */
export class AppendTail {
  #generation = 0;
  #lastHead: number | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #listenersDue = false;
  readonly #waiters = new Set<() => void>();
  readonly #listeners = new Set<AppendListener>();

  constructor(
    private readonly readHead: () => number | undefined,
    private readonly pollIntervalMs: number,
  ) {
    this.#lastHead = readHead();
  }

  /** Changes whenever the head may have moved; a reader notes it before reading and passes it to {@link wait}. */
  get generation(): number {
    return this.#generation;
  }

  /** A commit of this process put the head at `head`. */
  appended(head: number): void {
    if (this.#lastHead !== undefined && head <= this.#lastHead) return;
    this.#lastHead = head;
    this.#bump();
  }

  /**
   * Resolves at the first wake-up after `generation` (at once if it already happened), or when `signal`
   * aborts, or when the tail closes. Never rejects.
   */
  wait(generation: number, signal?: AbortSignal): Promise<void> {
    if (generation !== this.#generation || this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
      this.#startPolling();
    });
  }

  onAppended(listener: AppendListener): () => void {
    if (this.#closed) return () => {};
    this.#listeners.add(listener);
    this.#startPolling();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    for (const done of [...this.#waiters]) done();
    this.#stopPolling();
  }

  #bump(): void {
    this.#generation++;
    for (const done of [...this.#waiters]) done();
    if (this.#listeners.size > 0 && !this.#listenersDue) {
      // Several commits resolving in one turn (a group commit) make one call per listener.
      this.#listenersDue = true;
      queueMicrotask(() => this.#callListeners());
    }
  }

  #callListeners(): void {
    this.#listenersDue = false;
    if (this.#lastHead === undefined) return;
    const head = String(this.#lastHead);
    for (const listener of [...this.#listeners]) {
      try {
        listener(head);
      } catch (e) {
        process.emitWarning(`onAppended listener threw: ${(e as Error)?.message ?? String(e)}`);
      }
    }
  }

  #poll(): void {
    if (this.#waiters.size + this.#listeners.size === 0) {
      this.#stopPolling();
      return;
    }
    const head = this.readHead();
    if (head !== undefined) this.appended(head);
  }

  /** The timer holds the process open while someone waits, as an open socket would; it stops once nobody does. */
  #startPolling(): void {
    if (this.#timer === undefined && !this.#closed)
      this.#timer = setInterval(() => this.#poll(), this.pollIntervalMs);
  }

  #stopPolling(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
