import { EventStoreDBClient } from '@eventstore/db-client';
import { EventStoreUnavailableError, InvalidEventStoreArgumentError } from '../storeErrors.ts';
import type { BackoffOptions } from './backoff.ts';
import type { EsdbEventStoreSettings } from './esdbEventStore.ts';
import { EsdbEventStore } from './esdbEventStore.ts';

export interface OpenEsdbEventStoreOptions {
  /** E.g. `esdb://localhost:2113?tls=false` (one node) or `esdb+discover://...` (a cluster). */
  connectionString: string;
  /** Events per page of `$all` reads and subscription history. Default 256. */
  pageSize?: number;
  /** Resubscription delays after a dropped subscription. Default 100 ms doubling up to 5 s. */
  backoff?: BackoffOptions;
  onSubscriptionRetry?: EsdbEventStoreSettings['onSubscriptionRetry'];
  /** Read the head once before returning, so a wrong address fails here. Default true. */
  verifyConnection?: boolean;
}

export const DEFAULT_ESDB_PAGE_SIZE = 256;

export async function openEsdbEventStore(options: OpenEsdbEventStoreOptions): Promise<EsdbEventStore> {
  const pageSize = options.pageSize ?? DEFAULT_ESDB_PAGE_SIZE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1)
    throw new InvalidEventStoreArgumentError('pageSize must be a positive integer');
  let client: EventStoreDBClient;
  try {
    client = EventStoreDBClient.connectionString(options.connectionString);
  } catch (error) {
    throw new InvalidEventStoreArgumentError(
      `invalid EventStoreDB connection string: ${(error as Error).message}`,
    );
  }
  const store = new EsdbEventStore(client, {
    pageSize,
    backoff: options.backoff ?? {},
    ...(options.onSubscriptionRetry ? { onSubscriptionRetry: options.onSubscriptionRetry } : {}),
  });
  if (options.verifyConnection ?? true) {
    try {
      await store.headPosition();
    } catch (error) {
      await store.close();
      throw new EventStoreUnavailableError(`EventStoreDB is not reachable: ${(error as Error).message}`);
    }
  }
  return store;
}
