import { hostname } from 'node:os';

/** Who holds an LMDB lease: enough to tell whether it can still be running. */
export interface LeaseHolderRecord {
  pid: number;
  /** The holder's host name; a record without it (written by an older version) counts as another host's. */
  host?: string;
  /** ms since the epoch; past it, anyone may take the lease. */
  expires_at: number;
}

/**
 * The liveness rule of every lease kept in an LMDB file: a lease lives until it expires, except that one
 * whose holder ran on this host and whose process is gone counts as expired at once, so a restart after
 * `kill -9` takes over without waiting the lease time out. A holder on another host is trusted until expiry.
 */
export function isLeaseLive(record: LeaseHolderRecord, now: number): boolean {
  if (record.expires_at <= now) return false;
  return record.host !== hostname() || isProcessAlive(record.pid);
}

/** True when a process with this pid exists (EPERM: it exists, under another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
