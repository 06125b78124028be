import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import type { LeaseState } from '../infra/eventstore/lease.ts';
import { StoreLease } from '../infra/eventstore/lease.ts';

export type LeaseRole = 'leader' | 'standby';

/** Work only the lease holder may do: started when the lease is taken, stopped when it is lost. */
export interface LeaderDuty {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface StoreLeaseRoleOptions {
  store: EventStore;
  ttlMs: number;
  duties: readonly LeaderDuty[];
  logger: Logger;
  /** Registers `operator_lease_held` here (the API's registry). */
  registry?: Registry;
  /** Told every change of the lease (for `operator_lease_changes_total`: flapping shows there). */
  onLeaseChange?: (change: 'taken' | 'lost' | 'released') => void;
  /** Default `<host>:<pid>:<uuid>`. */
  holderId?: string;
}

/**
 * The process's part in the single-runner lease of decision 0004: `leader` while it holds the lease kept
 * in the store, `standby` otherwise. Each duty follows the lease on a queue of its own, level-triggered
 * (after every change it is brought to what the lease says now), so a slow start of one duty never delays
 * another's stop: the runner is stopped, and its stages ended, as soon as the lease is lost.
 */
export class StoreLeaseRole {
  readonly holderId: string;
  readonly #lease: StoreLease;
  readonly #logger: Logger;
  readonly #duties: { duty: LeaderDuty; running: boolean; queue: Promise<void> }[];
  #closed = false;

  constructor(options: StoreLeaseRoleOptions) {
    this.holderId = options.holderId ?? `${hostname()}:${process.pid}:${crypto.randomUUID()}`;
    this.#logger = options.logger.child({ component: 'lease' });
    this.#duties = options.duties.map((duty) => ({ duty, running: false, queue: Promise.resolve() }));
    this.#lease = new StoreLease({
      store: options.store,
      holderId: this.holderId,
      ttlMs: options.ttlMs,
      onChange: (state) => {
        if (state.held)
          this.#logger.info(
            { token: state.token, holder: this.holderId },
            'lease: taken; this process leads',
          );
        else if (state.reason === 'stopped') this.#logger.info('lease: released');
        else this.#logger.warn({ reason: state.reason }, 'lease: lost; stopping what only the leader runs');
        options.onLeaseChange?.(leaseChange(state));
        this.#follow();
      },
      onError: (error) => this.#logger.warn({ err: error }, 'lease: store error (riding it out)'),
    });
    const role = this;
    if (options.registry)
      new Gauge({
        name: 'operator_lease_held',
        help: 'whether this process holds the single-runner lease (runs the pipeline runner and webhooks)',
        registers: [options.registry],
        collect() {
          this.set(role.role === 'leader' ? 1 : 0);
        },
      });
  }

  get role(): LeaseRole {
    return this.#lease.isHeld && !this.#closed ? 'leader' : 'standby';
  }

  /** Starts contending for the lease; the duties start once it is held. */
  start(): void {
    this.#lease.start();
  }

  /** Stops every duty, then releases the lease so another process takes over at its next check. */
  async stop(): Promise<void> {
    this.#closed = true;
    this.#follow();
    await Promise.all(this.#duties.map((d) => d.queue));
    await this.#lease.stop({ release: true });
  }

  #follow(): void {
    for (const entry of this.#duties) {
      entry.queue = entry.queue.then(async () => {
        const lead = this.role === 'leader';
        if (lead === entry.running) return;
        try {
          await (lead ? entry.duty.start() : entry.duty.stop());
          entry.running = lead;
        } catch (error) {
          this.#logger.error(
            { err: error, duty: entry.duty.name },
            `lease: ${lead ? 'starting' : 'stopping'} ${entry.duty.name} failed`,
          );
          if (lead) this.#retryLater();
        }
      });
    }
  }

  #retryLater(): void {
    setTimeout(() => this.#follow(), 1000).unref();
  }
}

/** A clean stop releases the lease; any other end of holding it is a loss. */
function leaseChange(state: LeaseState): 'taken' | 'lost' | 'released' {
  if (state.held) return 'taken';
  return state.reason === 'stopped' ? 'released' : 'lost';
}
