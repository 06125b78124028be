import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Database } from 'lmdb';
import { lmdbTransaction } from '../lmdb/lmdbWrite.ts';
import { parseProcStat } from '../procStat.ts';

/** Who holds (or asks for) a lease. */
export interface LeaseHolder {
  /** Unique per process and purpose. */
  owner: string;
  /** What the holder does with it, for messages: `serve`, `rebuild`, `retention`, `sender`. */
  role: string;
  pid: number;
  /** The holder's host name; '' when unknown (a record of an older version): counts as another host's. */
  host: string;
}

export interface LeaseRecord extends LeaseHolder {
  /** ISO time the holder took the lease ('' when an older version did not record it). */
  acquired_at: string;
  /** ms since the epoch; past it, anyone may take the lease. */
  expires_at: number;
  /** Someone waiting for the holder to hand the lease over (see `request` and `grant`). */
  requested_by?: LeaseHolder;
}

export function newLeaseHolder(role: string): LeaseHolder {
  return { owner: `${role}-${randomUUID()}`, role, pid: process.pid, host: hostname() };
}

/**
 * The liveness rule of every lease kept in an LMDB file: a lease lives until it expires, except that one
 * whose holder ran on this host and whose process is gone counts as expired at once, so a restart after
 * `kill -9` takes over without waiting the lease time out. A holder on another host (or of unknown host) is
 * trusted until expiry.
 */
export function isLeaseLive(
  record: Pick<LeaseRecord, 'pid' | 'expires_at'> & { host?: string },
  now: number,
): boolean {
  if (record.expires_at <= now) return false;
  return record.host !== hostname() || isProcessAlive(record.pid);
}

/**
 * True when a process with this pid runs (EPERM: it exists, under another user). A zombie does not: a
 * server killed with -9 stays one until whatever started it reaps it, and its leases are free meanwhile.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).state !== 'Z';
  } catch {
    // Gone in the meantime, or no /proc at all (not Linux: the signal's answer stands).
    return !existsSync('/proc/self');
  }
}

/**
 * Named leases kept in an LMDB database, for processes that share one data dir: the projection writer and
 * rebuild leases (read model env, docs/decisions/0007), the webhook sender lease (webhook env). Each record
 * is the lease as JSON text under its name, so the database may be a string-encoded one shared with other
 * keys, and records written by a `json`-encoded database read the same. Every change is one synchronous
 * write transaction, and LMDB serialises write transactions across processes, so each read-check-write is
 * atomic even between a server and a CLI. The liveness rule is `isLeaseLive`.
 *
 * The cluster lease (which process of several, on any host, runs the runner) is another mechanism: a
 * stream of the event store (`StoreLease`, src/infra/eventstore/lease.ts), with no clock compared.
 */
export class LmdbLeases {
  constructor(
    private readonly db: Database<string, string>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The lease as recorded, live or not; undefined when there is none (or the record is unreadable). */
  read(name: string): LeaseRecord | undefined {
    const raw = this.db.get(name);
    return raw === undefined ? undefined : parseLeaseRecord(raw);
  }

  isLive(record: LeaseRecord): boolean {
    return isLeaseLive(record, this.now());
  }

  /** The record when someone other than `me` holds the lease and it is live; else undefined. */
  heldByOther(name: string, me: LeaseHolder): LeaseRecord | undefined {
    const record = this.read(name);
    return record && record.owner !== me.owner && this.isLive(record) ? record : undefined;
  }

  /**
   * Takes the lease if it is free, not live (expired, or its holder's process gone), or already `me`'s (then
   * it is renewed, its `acquired_at` kept); returns whether `me` holds it now.
   */
  tryAcquire(name: string, me: LeaseHolder, ttlMs: number): boolean {
    return this.db.transactionSync(() => this.#tryAcquireIn(name, me, ttlMs));
  }

  /**
   * `tryAcquire` in an asynchronous write transaction, for the checks a serving process repeats: its event
   * loop neither waits for LMDB's write lock (which the env's write thread holds through each commit and its
   * sync) nor makes the sync itself.
   */
  tryAcquireLater(name: string, me: LeaseHolder, ttlMs: number): Promise<boolean> {
    return lmdbTransaction(this.db, () => this.#tryAcquireIn(name, me, ttlMs));
  }

  #tryAcquireIn(name: string, me: LeaseHolder, ttlMs: number): boolean {
    const current = this.read(name);
    if (current && current.owner !== me.owner && this.isLive(current)) return false;
    const acquired_at =
      current?.owner === me.owner && current.acquired_at !== ''
        ? current.acquired_at
        : new Date(this.now()).toISOString();
    this.#write(name, { ...holderOf(me), acquired_at, expires_at: this.now() + ttlMs });
    return true;
  }

  /** Extends `me`'s lease; false when `me` no longer holds it. Keeps a pending request. */
  renew(name: string, me: LeaseHolder, ttlMs: number): boolean {
    return this.db.transactionSync(() => this.#renewIn(name, me, ttlMs));
  }

  /**
   * `renew` in an asynchronous write transaction: the calling thread does not wait for LMDB's write lock,
   * which another thread of the process (a rebuild's read model thread, the env's write thread during a
   * commit and its sync) may hold for a long time, nor makes the sync itself.
   */
  renewLater(name: string, me: LeaseHolder, ttlMs: number): Promise<boolean> {
    return lmdbTransaction(this.db, () => this.#renewIn(name, me, ttlMs));
  }

  #renewIn(name: string, me: LeaseHolder, ttlMs: number): boolean {
    const current = this.read(name);
    if (!current || current.owner !== me.owner) return false;
    this.#write(name, { ...current, expires_at: this.now() + ttlMs });
    return true;
  }

  /** Gives the lease up, if `me` holds it. */
  release(name: string, me: LeaseHolder): void {
    this.db.transactionSync(() => {
      if (this.read(name)?.owner === me.owner) this.db.removeSync(name);
    });
  }

  /** Asks the live holder to hand the lease over to `me` (see `grant`). */
  request(name: string, me: LeaseHolder): void {
    this.db.transactionSync(() => {
      const current = this.read(name);
      if (current && current.owner !== me.owner && current.requested_by?.owner !== me.owner)
        this.#write(name, { ...current, requested_by: holderOf(me) });
    });
  }

  /** Withdraws `me`'s request (e.g. on timeout), if it is still pending. */
  withdraw(name: string, me: LeaseHolder): void {
    this.db.transactionSync(() => {
      const current = this.read(name);
      if (current?.requested_by?.owner === me.owner) {
        const { requested_by: _, ...rest } = current;
        this.#write(name, rest);
      }
    });
  }

  /** The holder `me` passes the lease to whoever requested it; undefined when `me` does not hold it or no one asked. */
  grant(name: string, me: LeaseHolder, ttlMs: number): LeaseHolder | undefined {
    return this.db.transactionSync(() => {
      const current = this.read(name);
      if (!current || current.owner !== me.owner || !current.requested_by) return undefined;
      const to = current.requested_by;
      this.#write(name, {
        ...to,
        acquired_at: new Date(this.now()).toISOString(),
        expires_at: this.now() + ttlMs,
      });
      return to;
    });
  }

  #write(name: string, record: LeaseRecord): void {
    this.db.putSync(name, JSON.stringify(record));
  }
}

const holderOf = ({ owner, role, pid, host }: LeaseHolder): LeaseHolder => ({ owner, role, pid, host });

/**
 * A stored lease, whichever version wrote it: the webhook sender lease of earlier versions had no `role`
 * and no `acquired_at` (and older ones no `host`). A record without an owner, pid or expiry is no lease.
 */
function parseLeaseRecord(raw: string): LeaseRecord | undefined {
  let data: Partial<LeaseRecord>;
  try {
    data = JSON.parse(raw) as Partial<LeaseRecord>;
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const { owner, pid, expires_at } = data;
  if (typeof owner !== 'string' || typeof pid !== 'number' || typeof expires_at !== 'number')
    return undefined;
  return {
    ...data,
    owner,
    pid,
    expires_at,
    role: typeof data.role === 'string' ? data.role : 'unknown',
    host: typeof data.host === 'string' ? data.host : '',
    acquired_at: typeof data.acquired_at === 'string' ? data.acquired_at : '',
  };
}
