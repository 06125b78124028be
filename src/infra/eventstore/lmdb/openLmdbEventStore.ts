import { mkdir } from 'node:fs/promises';
import { InvalidEventStoreArgumentError } from '../storeErrors.ts';
import { LmdbEventStore } from './lmdbEventStore.ts';
import { openLmdbLayout } from './lmdbLayout.ts';

export interface OpenLmdbEventStoreOptions {
  /** Directory of the LMDB environment; created when missing. */
  path: string;
  /** Time source for `created` and for `maxAge` retention. Default: the system clock. */
  clock?: () => Date;
  /** Entries per cursor scan for reads and subscriptions, i.e. one reader's memory bound. Default 256. */
  batchSize?: number;
  /** How often waiting subscriptions look for commits made by other processes. Default 250 ms. */
  pollIntervalMs?: number;
}

export const DEFAULT_BATCH_SIZE = 256;
export const DEFAULT_POLL_INTERVAL_MS = 250;

export async function openLmdbEventStore(options: OpenLmdbEventStoreOptions): Promise<LmdbEventStore> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new InvalidEventStoreArgumentError('batchSize must be a positive integer');
  if (!(pollIntervalMs > 0)) throw new InvalidEventStoreArgumentError('pollIntervalMs must be positive');
  // Owner only: the log holds every job's params and every actor's name.
  await mkdir(options.path, { recursive: true, mode: 0o700 });
  return new LmdbEventStore(openLmdbLayout(options.path), {
    clock: options.clock ?? (() => new Date()),
    batchSize,
    pollIntervalMs,
  });
}
