import type { Logger } from 'pino';

export type Step = () => Promise<void>;

export interface RunnerStepsOptions {
  /** Brings one job in line with its state. */
  reconcile: (jobId: string) => Promise<void>;
  /** Starts queued jobs while a lane is free. */
  fillLanes: () => Promise<void>;
  signal: AbortSignal;
  logger: Logger;
}

/**
 * The runner's work, done one step at a time so two steps never race each other: queued tasks first (a
 * command, a stage's result), then the jobs that changed (reconciled once however often they changed),
 * then the lanes. Nothing runs before `open()` (the runner has caught up with the log) or after `signal`.
 */
export class RunnerSteps {
  readonly #o: RunnerStepsOptions;
  readonly #tasks: Step[] = [];
  readonly #dirty = new Set<string>();
  #lanesDirty = false;
  #open = false;
  #draining: Promise<void> | null = null;

  constructor(options: RunnerStepsOptions) {
    this.#o = options;
  }

  /** Steps may run from now on (the runner caught up with the log). */
  open(): void {
    this.#open = true;
    this.#kick();
  }

  /** The step in flight, if any, and those it leads to. */
  get draining(): Promise<void> | null {
    return this.#draining;
  }

  push(step: Step): void {
    this.#tasks.push(step);
    this.#kick();
  }

  /** The job changed: reconcile it, and the lanes. */
  touch(jobId: string): void {
    this.#dirty.add(jobId);
    this.#lanesDirty = true;
    this.#kick();
  }

  /** Every job listed is reconciled, and the lanes. */
  touchAll(jobIds: Iterable<string>): void {
    for (const jobId of jobIds) this.#dirty.add(jobId);
    this.lanesChanged();
  }

  lanesChanged(): void {
    this.#lanesDirty = true;
    this.#kick();
  }

  #kick(): void {
    if (this.#draining || !this.#open || this.#o.signal.aborted) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      if (this.#tasks.length > 0 || this.#dirty.size > 0 || this.#lanesDirty) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (!this.#o.signal.aborted) {
      const step = this.#next();
      if (!step) return;
      try {
        await step();
      } catch (error) {
        this.#o.logger.error({ err: error }, 'runner: step failed');
      }
    }
  }

  #next(): Step | undefined {
    const task = this.#tasks.shift();
    if (task) return task;
    const jobId = this.#dirty.values().next().value;
    if (jobId !== undefined) {
      this.#dirty.delete(jobId);
      return () => this.#o.reconcile(jobId);
    }
    if (this.#lanesDirty) {
      this.#lanesDirty = false;
      return this.#o.fillLanes;
    }
    return undefined;
  }
}
