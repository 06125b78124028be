import { join } from 'node:path';
import type { Config } from '../infra/config/configSchema.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { openLmdbEventStore } from '../infra/eventstore/lmdb/index.ts';

/** Opens the configured event store: LMDB under `storage.data_dir/store`, or EventStoreDB. */
export async function openStore(config: Config): Promise<EventStore> {
  if (config.store.kind === 'eventstoredb') {
    const { openEsdbEventStore } = await import('../infra/eventstore/esdb/index.ts');
    return openEsdbEventStore({ connectionString: config.store.connection_string as string });
  }
  return openLmdbEventStore({ path: join(config.storage.data_dir, 'store') });
}
