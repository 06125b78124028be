export interface RetryPolicy {
  /** Delay before the first retry, ms. */
  firstDelayMs: number;
  /** Delays double up to this, ms. */
  maxDelayMs: number;
  /** Retries stop once their delays would add up past this, ms. */
  giveUpAfterMs: number;
}

/**
 * The delays between attempts: doubling from `firstDelayMs`, capped at `maxDelayMs`, as many as fit in
 * `giveUpAfterMs`. The defaults (5 s, 6 h, 24 h) give 15 retries (16 attempts) over about 23 hours.
 */
export function retrySchedule(policy: RetryPolicy): number[] {
  const delays: number[] = [];
  let total = 0;
  let delay = Math.max(1, policy.firstDelayMs);
  while (total + delay <= policy.giveUpAfterMs && delays.length < 1000) {
    delays.push(delay);
    total += delay;
    delay = Math.min(delay * 2, Math.max(1, policy.maxDelayMs));
  }
  return delays;
}

/** `delay` moved by up to `jitter` (a fraction) either way, so endpoints that failed together do not retry together. */
export function withJitter(delay: number, jitter: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(delay * (1 + jitter * (2 * random() - 1))));
}
