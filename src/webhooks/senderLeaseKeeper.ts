import type { Logger } from 'pino';
import type { LmdbLeases } from '../infra/leases/lmdbLeases.ts';
import { newLeaseHolder } from '../infra/leases/lmdbLeases.ts';
import { SENDER_LEASE } from './webhookStore.ts';

export interface SenderLeaseKeeperOptions {
  /** The webhook store's leases (the sender lease lives in its `meta`). */
  leases: LmdbLeases;
  /** How long the lease lasts without renewal; it is checked and renewed every third of it. */
  ttlMs: number;
  logger?: Logger;
  /** This process holds the lease now (it did not before). */
  onGained(): void;
  /** This process lost the lease (another took it over); resolves once sending has stopped here. */
  onLost(): Promise<void>;
}

/**
 * Keeps the webhook sender lease of a data dir: only its holder runs the outbox and sends, so two processes
 * on one data dir never send the same endpoint's deliveries side by side (out of order). A second process
 * waits for it; a holder whose process is gone is taken over at once (the liveness rule of `LmdbLeases`).
 */
export class SenderLeaseKeeper {
  readonly #o: SenderLeaseKeeperOptions;
  readonly #me = newLeaseHolder('sender');
  #holding = false;
  #timer: NodeJS.Timeout | null = null;
  #tick: Promise<void> = Promise.resolve();
  #waitLogged = false;

  constructor(options: SenderLeaseKeeperOptions) {
    this.#o = options;
  }

  /** True while this process holds the lease. */
  get holding(): boolean {
    return this.#holding;
  }

  /** Checks the lease once now, then every third of its time. */
  async start(): Promise<void> {
    await this.#check();
    this.#timer = setInterval(() => {
      this.#tick = this.#tick
        .then(() => this.#check())
        .catch((error: unknown) =>
          this.#o.logger?.error({ err: error }, 'webhooks: sender lease check failed'),
        );
    }, this.#o.ttlMs / 3);
    this.#timer.unref();
  }

  /** Stops checking (a check in flight finishes first). The lease is kept until `release`. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#tick;
  }

  /** Gives the lease up, once sending has stopped here. */
  release(): void {
    if (this.#holding) this.#o.leases.release(SENDER_LEASE, this.#me);
    this.#holding = false;
  }

  async #check(): Promise<void> {
    let held = false;
    try {
      // Asynchronous: the serving event loop waits neither for LMDB's write lock nor for the sync.
      held = await this.#o.leases.tryAcquireLater(SENDER_LEASE, this.#me, this.#o.ttlMs);
    } catch (error) {
      this.#o.logger?.error({ err: error }, 'webhooks: sender lease check failed');
    }
    if (held && !this.#holding) {
      this.#holding = true;
      this.#o.onGained();
    } else if (!held && this.#holding) {
      this.#holding = false;
      this.#o.logger?.warn('webhooks: sender lease lost: another process sends now');
      await this.#o.onLost();
    } else if (!held && !this.#waitLogged) {
      this.#waitLogged = true;
      const holder = this.#o.leases.read(SENDER_LEASE);
      this.#o.logger?.info(
        { pid: holder?.pid, host: holder?.host, until: holder && new Date(holder.expires_at).toISOString() },
        'webhooks: another process holds the sender lease; waiting for it',
      );
    }
  }
}
