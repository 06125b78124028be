import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database, RootDatabase } from 'lmdb';
import { isLeaseLive } from './leaseLiveness.ts';

/** Who holds (or asks for) a lease. */
export interface LeaseHolder {
  /** Unique per process and purpose. */
  owner: string;
  role: 'serve' | 'rebuild' | 'retention';
  pid: number;
  host: string;
}

export interface LeaseRecord extends LeaseHolder {
  acquired_at: string;
  /** ms since the epoch; past it, anyone may take the lease. */
  expires_at: number;
  /** A rebuild waiting for the holder to hand the lease over. */
  requested_by?: LeaseHolder;
}

/** The last failure of a projection in the serving process, kept for `operator projections status`. */
export interface ProjectionErrorRecord {
  projection: string;
  last_error: string;
  failures: number;
  at: string;
}

/** Only the holder of this lease writes the live projections (runs/ files, read model, their checkpoints). */
export const WRITER_LEASE = 'writer';
/** Held for the length of a rebuild (or a retention sweep): one such maintenance run at a time. */
export const REBUILD_LEASE = 'rebuild';

export function newLeaseHolder(role: LeaseHolder['role']): LeaseHolder {
  return { owner: `${role}-${randomUUID()}`, role, pid: process.pid, host: hostname() };
}

/**
 * Leases in the read model's LMDB env (see docs/decisions/0007). Every change is one synchronous write
 * transaction, and LMDB serialises write transactions across processes, so each read-check-write is atomic
 * even between the server and a CLI. A lease whose holder stopped renewing it expires; one whose process is
 * gone (same host, pid not alive) counts as expired at once.
 */
export class ProjectionLeases {
  readonly #leases: Database<LeaseRecord, string>;
  readonly #errors: Database<ProjectionErrorRecord, string>;

  constructor(
    env: RootDatabase,
    private readonly now: () => number = Date.now,
  ) {
    this.#leases = env.openDB<LeaseRecord, string>('projection_leases', { encoding: 'json' });
    this.#errors = env.openDB<ProjectionErrorRecord, string>('projection_errors', { encoding: 'json' });
  }

  read(name: string): LeaseRecord | undefined {
    return this.#leases.get(name);
  }

  /** The record when someone other than `me` holds the lease and it is live; else undefined. */
  heldByOther(name: string, me: LeaseHolder): LeaseRecord | undefined {
    const record = this.read(name);
    return record && record.owner !== me.owner && this.isLive(record) ? record : undefined;
  }

  isLive(record: LeaseRecord): boolean {
    return isLeaseLive(record, this.now());
  }

  /** Takes the lease if it is free, expired, or already `me`'s; returns whether `me` holds it now. */
  tryAcquire(name: string, me: LeaseHolder, ttlMs: number): boolean {
    return this.#leases.transactionSync(() => {
      const current = this.#leases.get(name);
      if (current && current.owner !== me.owner && this.isLive(current)) return false;
      const acquired_at =
        current?.owner === me.owner ? current.acquired_at : new Date(this.now()).toISOString();
      this.#leases.putSync(name, { ...me, acquired_at, expires_at: this.now() + ttlMs });
      return true;
    });
  }

  /** Extends `me`'s lease; false when `me` no longer holds it. Keeps a pending request. */
  renew(name: string, me: LeaseHolder, ttlMs: number): boolean {
    return this.#leases.transactionSync(() => {
      const current = this.#leases.get(name);
      if (!current || current.owner !== me.owner) return false;
      this.#leases.putSync(name, { ...current, expires_at: this.now() + ttlMs });
      return true;
    });
  }

  release(name: string, me: LeaseHolder): void {
    this.#leases.transactionSync(() => {
      if (this.#leases.get(name)?.owner === me.owner) this.#leases.removeSync(name);
    });
  }

  /** Asks the live holder to hand the lease over to `me` (see `grant`). */
  request(name: string, me: LeaseHolder): void {
    this.#leases.transactionSync(() => {
      const current = this.#leases.get(name);
      if (current && current.owner !== me.owner && current.requested_by?.owner !== me.owner)
        this.#leases.putSync(name, { ...current, requested_by: me });
    });
  }

  /** Withdraws `me`'s request (e.g. on timeout), if it is still pending. */
  withdraw(name: string, me: LeaseHolder): void {
    this.#leases.transactionSync(() => {
      const current = this.#leases.get(name);
      if (current?.requested_by?.owner === me.owner) {
        const { requested_by: _, ...rest } = current;
        this.#leases.putSync(name, rest);
      }
    });
  }

  /** The holder `me` passes the lease to whoever requested it; false when `me` does not hold it. */
  grant(name: string, me: LeaseHolder, ttlMs: number): LeaseHolder | undefined {
    return this.#leases.transactionSync(() => {
      const current = this.#leases.get(name);
      if (!current || current.owner !== me.owner || !current.requested_by) return undefined;
      const to = current.requested_by;
      this.#leases.putSync(name, {
        ...to,
        acquired_at: new Date(this.now()).toISOString(),
        expires_at: this.now() + ttlMs,
      });
      return to;
    });
  }

  recordError(record: ProjectionErrorRecord): Promise<boolean> {
    return this.#errors.put(record.projection, record);
  }

  clearError(projection: string): Promise<boolean> {
    return this.#errors.remove(projection);
  }

  lastError(projection: string): ProjectionErrorRecord | undefined {
    return this.#errors.get(projection);
  }
}
