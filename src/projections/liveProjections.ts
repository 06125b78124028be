import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import type { LeaseHolder } from '../infra/leases/projectionLeases.ts';
import { newLeaseHolder, ProjectionLeases, WRITER_LEASE } from '../infra/leases/projectionLeases.ts';
import type { Projection, ProjectionsPort } from './index.ts';
import {
  JsonlProjection,
  ProjectionRunner,
  ReadModel,
  ReadModelProjection,
  ReadModelStore,
  StageLogProjection,
  StateProjection,
} from './index.ts';

export interface LiveProjectionsOptions {
  store: EventStore;
  dataDir: string;
  runsDir: string;
  logger?: Logger;
  batchSize?: number;
  /** How long the writer lease lasts without renewal. Default 15 s. */
  leaseTtlMs?: number;
  /** How often the lease is checked for a handover request (and renewed). Default 200 ms. */
  checkIntervalMs?: number;
}

/**
 * The serving process's projections (jsonl, state, read model) under the writer lease of
 * docs/decisions/0007: the runner runs only while this process holds the lease. When
 * `operator projections rebuild` asks for it, the runner stops after its batch in flight and the lease is
 * handed over; the rebuild swaps its files and read model generation in, gives the lease back, and the
 * runner starts again with empty caches, from the checkpoints the rebuild left. The read model projection
 * follows whichever generation is active, so after a swap the server writes the new one.
 */
export class LiveProjections {
  readonly readModelStore: ReadModelStore;
  /** Queries; reads whichever generation is active. */
  readonly readModel: ReadModel;
  readonly runner: ProjectionRunner;
  readonly port: ProjectionsPort;
  readonly #jsonl: JsonlProjection;
  readonly #state: StateProjection;
  readonly #logs: StageLogProjection;
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

  constructor(options: LiveProjectionsOptions) {
    this.#logger = options.logger?.child({ component: 'projections' });
    this.#ttlMs = options.leaseTtlMs ?? 15_000;
    this.#checkMs = options.checkIntervalMs ?? 200;
    this.readModelStore = ReadModelStore.open(options.dataDir);
    // A rebuild swaps in generation 1 or 2. Their tables are opened now: a query's read transaction cannot
    // use a database this process opens after the transaction began, so the first query after a swap would
    // fail if the new generation were opened lazily.
    for (const generation of new Set([this.readModelStore.generation(), 1, 2]))
      this.readModelStore.tables(generation);
    this.readModel = new ReadModel(this.readModelStore);
    this.#leases = new ProjectionLeases(this.readModelStore.env);
    const common = {
      runsDir: options.runsDir,
      checkpoints: this.readModelStore.checkpoints,
      store: options.store,
    };
    this.#jsonl = new JsonlProjection({ ...common, logger: this.#logger });
    this.#state = new StateProjection({ ...common, logger: this.#logger });
    this.#logs = new StageLogProjection({ ...common, logger: this.#logger });
    this.runner = new ProjectionRunner({
      store: options.store,
      projections: [
        this.#jsonl,
        this.#state,
        new ActiveGenerationReadModel(this.readModelStore, this.#logger),
        this.#logs,
      ],
      logger: this.#logger,
      batchSize: options.batchSize,
    });
    this.runner.on('projection_error', (name, error) => this.#recordError(name, error));
    this.runner.on('applied', () => this.#clearErrors());
    const runner = this.runner;
    this.port = {
      waitForPosition: (position, timeoutMs) => runner.waitForPosition(position, timeoutMs),
      onApplied: (listener) => runner.onApplied(listener),
      checkpoint: () => runner.checkpoint(),
    };
  }

  /** Whether this process holds the writer lease (and so runs the projections). */
  get holdsLease(): boolean {
    return this.#holding;
  }

  /** Takes the lease at once when it is free, then keeps checking it in the background. */
  start(): void {
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

  /** Stops the runner, gives the lease up, closes the projections and the read model env. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#tick;
    await this.runner.close();
    if (this.#holding) this.#leases.release(WRITER_LEASE, this.#me);
    this.#holding = false;
    await this.readModelStore.close();
  }

  #acquire(): void {
    if (this.#closed) return;
    if (!this.#leases.tryAcquire(WRITER_LEASE, this.#me, this.#ttlMs)) {
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
    void this.#jsonl.close();
    void this.#state.close();
    void this.#logs.close();
    void this.runner.start();
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    if (!this.#holding) return this.#acquire();
    const record = this.#leases.read(WRITER_LEASE);
    if (!record || record.owner !== this.#me.owner) {
      // Expired (this process stalled past the TTL) and taken: stop writing at once.
      this.#logger?.error('projections: the writer lease was lost; stopping the projections');
      this.#holding = false;
      await this.runner.stop();
      return;
    }
    if (record.requested_by) {
      await this.runner.stop();
      const to = this.#leases.grant(WRITER_LEASE, this.#me, this.#ttlMs * 2);
      this.#holding = false;
      this.#logger?.info(
        { to: to && { role: to.role, pid: to.pid, host: to.host } },
        'projections: paused, writer lease handed over (rebuild swap)',
      );
      return;
    }
    if (Date.now() - this.#lastRenew >= this.#ttlMs / 3) {
      if (this.#leases.renew(WRITER_LEASE, this.#me, this.#ttlMs)) this.#lastRenew = Date.now();
    }
  }

  #recordError(projection: string, error: unknown): void {
    const current = this.runner.status().find((s) => s.name === projection);
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

/** The read model projection of whichever generation is active: after a rebuild's swap it writes the new one. */
class ActiveGenerationReadModel implements Projection {
  readonly name = 'readmodel';
  #projection: ReadModelProjection;

  constructor(
    private readonly store: ReadModelStore,
    private readonly logger?: Logger,
  ) {
    this.#projection = new ReadModelProjection({ store, logger });
  }

  checkpoint(): Promise<string | null> {
    return this.#current().checkpoint();
  }

  apply(batch: readonly JobEvent[]): Promise<void> {
    return this.#current().apply(batch);
  }

  close(): Promise<void> {
    return this.#projection.close();
  }

  #current(): ReadModelProjection {
    const generation = this.store.generation();
    if (generation !== this.#projection.generation) {
      this.logger?.info({ generation }, 'projections: read model generation switched');
      this.#projection = new ReadModelProjection({ store: this.store, generation, logger: this.logger });
    }
    return this.#projection;
  }
}
