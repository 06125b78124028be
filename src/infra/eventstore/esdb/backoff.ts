export interface BackoffOptions {
  /** First delay after a drop, ms. Default 100. */
  initialMs?: number;
  /** Cap, ms. Default 5000. */
  maxMs?: number;
}

/**
 * Capped exponential backoff with jitter: attempt 1 waits about `initialMs`, each further attempt twice
 * as long, never more than `maxMs`. The jitter (±20 %) keeps many subscribers of one process from
 * reconnecting in lockstep after a server restart.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random = Math.random): number {
  const initial = options.initialMs ?? 100;
  const max = options.maxMs ?? 5000;
  const base = Math.min(max, initial * 2 ** Math.max(0, attempt - 1));
  return Math.round(Math.min(max, base * (0.8 + 0.4 * random())));
}
