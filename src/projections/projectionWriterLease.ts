import type { Logger } from 'pino';
import type { LeaseHolder } from '../infra/leases/lmdbLeases.ts';
import { newLeaseHolder } from '../infra/leases/lmdbLeases.ts';
import { ProjectionLeases, WRITER_LEASE } from '../infra/leases/projectionLeases.ts';
import type { Projection } from './projection.ts';
import type { ProjectionRunner } from './projectionRunner.ts';
import type { ReadModelStore } from './readModelStore.ts';

export interface ProjectionWriterLeaseOptions {
  readModelStore: ReadModelStore;
  runner: ProjectionRunner;
  /** The file projections, whose caches are emptied each time the lease is taken (a rebuild may have swapped their files). */
  fileProjections: readonly Projection[];
  logger?: Logger;
  /** How long the writer lease lasts without renewal. Default 15 s. */
  leaseTtlMs?: number;
  /** How often the lease is checked for a handover request (and renewed). Default 200 ms. */
  checkIntervalMs?: number;
}

/**
 * The writer lease of docs/decisions/0007 around a serving process's projection runner: the runner runs only
 * while this process holds the lease. When `operator projections rebuild` asks for it, the runner stops after
 * its batch in flight and the lease is handed over; the rebuild swaps its files and read model generation
 * in, gives the lease back, and the runner starts again with empty caches, from the checkpoints the rebuild
 * left. Once started, projection errors are recorded beside the lease, for `operator projections status`.
 */
export class ProjectionWriterLease {
  readonly #runner: ProjectionRunner;
  readonly #files: readonly Projection[];
  readonly #leases: ProjectionLeases;
  readonly #me: LeaseHolder = newLeaseHolder('serve');
  readonly #logger: Logger | undefined;
  readonly #ttlMs: number;
  readonly #checkMs: number;
  #holding = false;
  #lastRenew = 0;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  #closed = false;
  #waitingLogged = false;
  readonly #erroring = new Set<string>();

  constructor(options: ProjectionWriterLeaseOptions) {
    this.#runner = options.runner;
    this.#files = options.fileProjections;
    this.#logger = options.logger;
    this.#ttlMs = options.leaseTtlMs ?? 15_000;
    this.#checkMs = options.checkIntervalMs ?? 200;
    this.#leases = new ProjectionLeases(options.readModelStore.env);
  }

  /** Takes the lease at once when it is free, then keeps checking it in the background. */
  start(): void {
    this.#runner.on('projection_error', (name, error) => this.#recordError(name, error));
    this.#runner.on('applied', () => this.#clearErrors());
    this.#acquire();
    this.#timer = setInterval(() => {
      this.#tick = this.#tick
        .then(() => this.#check())
        .catch((error: unknown) => {
          this.#logger?.error({ err: error }, 'projections: writer lease check failed');
        });
    }, this.#checkMs);
    this.#timer.unref();
  }

  /** Stops checking, stops the runner and gives the lease up (the caller closes the projections). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#tick;
    await this.#runner.stop();
    if (this.#holding) this.#leases.release(WRITER_LEASE, this.#me);
    this.#holding = false;
  }

  /** Takes the lease if it is free, in a synchronous transaction: at start, so the runner starts at once. */
  #acquire(): void {
    if (this.#closed) return;
    this.#took(this.#leases.tryAcquire(WRITER_LEASE, this.#me, this.#ttlMs));
  }

  /**
   * The later attempts of a waiting process, in an asynchronous transaction like the renewals: a serving
   * event loop never waits for LMDB's write lock or a sync.
   */
  async #acquireLater(): Promise<void> {
    if (this.#closed) return;
    const taken = await this.#leases.tryAcquireLater(WRITER_LEASE, this.#me, this.#ttlMs);
    if (!this.#closed) this.#took(taken);
    else if (taken) this.#leases.release(WRITER_LEASE, this.#me);
  }

  #took(taken: boolean): void {
    if (!taken) {
      if (!this.#waitingLogged) {
        const holder = this.#leases.read(WRITER_LEASE);
        this.#logger?.warn(
          { holder: holder && { role: holder.role, pid: holder.pid, host: holder.host } },
          'projections: another process writes the projections; waiting for its writer lease',
        );
        this.#waitingLogged = true;
      }
      return;
    }
    this.#waitingLogged = false;
    this.#holding = true;
    this.#lastRenew = Date.now();
    // A rebuild may have replaced files and checkpoints: start from what is on disk, not from caches.
    for (const projection of this.#files) void projection.close();
    void this.#runner.start();
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    if (!this.#holding) return this.#acquireLater();
    const record = this.#leases.read(WRITER_LEASE);
    if (!record || record.owner !== this.#me.owner) {
      // Expired (this process stalled past the TTL) and taken: stop writing at once.
      this.#logger?.error('projections: the writer lease was lost; stopping the projections');
      this.#holding = false;
      await this.#runner.stop();
      return;
    }
    if (record.requested_by) {
      await this.#runner.stop();
      const to = this.#leases.grant(WRITER_LEASE, this.#me, this.#ttlMs * 2);
      this.#holding = false;
      this.#logger?.info(
        { to: to && { role: to.role, pid: to.pid, host: to.host } },
        'projections: paused, writer lease handed over (rebuild swap)',
      );
      return;
    }
    if (Date.now() - this.#lastRenew >= this.#ttlMs / 3) {
      // Asynchronous: the serving event loop waits neither for LMDB's write lock nor for the sync. A renewal
      // refused (the lease taken meanwhile) is found by the next check.
      if (await this.#leases.renewLater(WRITER_LEASE, this.#me, this.#ttlMs)) this.#lastRenew = Date.now();
    }
  }

  #recordError(projection: string, error: unknown): void {
    const current = this.#runner.status().find((s) => s.name === projection);
    this.#erroring.add(projection);
    void this.#leases
      .recordError({
        projection,
        last_error: error instanceof Error ? error.message : String(error),
        failures: current?.failures ?? 1,
        at: new Date().toISOString(),
      })
      .catch(() => {});
  }

  #clearErrors(): void {
    if (this.#erroring.size === 0) return;
    for (const projection of this.#erroring) void this.#leases.clearError(projection).catch(() => {});
    this.#erroring.clear();
  }
}
