import type { Logger } from 'pino';
import { OperatorError } from '../domain/errors.ts';
import type { LeaseHolder } from '../infra/leases/lmdbLeases.ts';
import { newLeaseHolder } from '../infra/leases/lmdbLeases.ts';
import { ProjectionLeases, SERVE_LEASE } from '../infra/leases/projectionLeases.ts';
import type { ReadModelStore } from '../projections/readModelStore.ts';

export interface DataDirLeaseOptions {
  readModelStore: ReadModelStore;
  dataDir: string;
  /** How long the lease lasts without renewal (`store.lease_ttl`); renewed every third of it. */
  ttlMs: number;
  logger: Logger;
  /** Another process took the lease over (this one stalled past the TTL): it must stop serving. */
  onLost: () => void;
}

/**
 * One `operator serve` per data dir. The data dir's read model env keeps a `serve` lease: a second server
 * started on the same dirs is refused at once, before it runs anything, instead of running a second
 * pipeline runner that would end the first one's stages as orphans. The lease of a process that is gone
 * (`kill -9`) is free at once on the same host (the liveness rule of `LmdbLeases`), so a restart never waits.
 * Several processes on one store is what EventStoreDB is for, each with its own data and runs dirs.
 */
export class DataDirLease {
  readonly #leases: ProjectionLeases;
  readonly #me: LeaseHolder = newLeaseHolder('serve');
  readonly #timer: NodeJS.Timeout;
  #held = true;

  private constructor(leases: ProjectionLeases, options: DataDirLeaseOptions) {
    this.#leases = leases;
    this.#timer = setInterval(() => void this.#renew(options), Math.floor(options.ttlMs / 3));
    this.#timer.unref();
  }

  /** Takes the lease, or throws `data_dir_in_use` naming the live server that holds it. */
  static take(options: DataDirLeaseOptions): DataDirLease {
    const leases = new ProjectionLeases(options.readModelStore.env);
    const lease = new DataDirLease(leases, options);
    if (!leases.tryAcquire(SERVE_LEASE, lease.#me, options.ttlMs)) {
      clearInterval(lease.#timer);
      const holder = leases.read(SERVE_LEASE);
      const who = holder
        ? `pid ${holder.pid} on ${holder.host || 'another host'}, since ${holder.acquired_at}`
        : '';
      throw new OperatorError(
        'data_dir_in_use',
        `another operator serve (${who}) uses the data dir ${options.dataDir}: stop it first (several processes on one store need store.kind: eventstoredb, each with its own data_dir and runs_dir)`,
        'conflict',
      );
    }
    return lease;
  }

  /** Gives the lease up (a clean stop): the next server takes it at once. */
  release(): void {
    clearInterval(this.#timer);
    if (this.#held) this.#leases.release(SERVE_LEASE, this.#me);
    this.#held = false;
  }

  async #renew(options: DataDirLeaseOptions): Promise<void> {
    if (!this.#held) return;
    let renewed = false;
    try {
      // Asynchronous: the event loop never waits for LMDB's write lock (a rebuild's long transaction).
      renewed = await this.#leases.renewLater(SERVE_LEASE, this.#me, options.ttlMs);
    } catch (error) {
      // A store error is ridden out: the lease lasts its TTL, and the next renewal tries again.
      options.logger.warn({ err: error }, 'serve: the data dir lease could not be renewed');
      return;
    }
    if (renewed || !this.#held) return;
    this.#held = false;
    clearInterval(this.#timer);
    options.logger.error(
      { holder: this.#leases.read(SERVE_LEASE) },
      `serve: another process took the data dir lease of ${options.dataDir} (this one stalled past store.lease_ttl); stopping`,
    );
    options.onLost();
  }
}
