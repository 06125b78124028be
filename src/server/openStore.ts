import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../infra/config/configSchema.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { openLmdbEventStore } from '../infra/eventstore/lmdb/index.ts';
import { PRIVATE_DIR_MODE } from '../infra/files/privateFile.ts';

/**
 * Opens the configured event store: LMDB under `storage.data_dir/store`, or EventStoreDB. The data dir is
 * created first, owner only (0700), whichever the store: with EventStoreDB it still holds the read model,
 * the checkpoints and the webhook secrets.
 */
export async function openStore(config: Config): Promise<EventStore> {
  await mkdir(config.storage.data_dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (config.store.kind === 'eventstoredb') {
    const { openEsdbEventStore } = await import('../infra/eventstore/esdb/index.ts');
    return openEsdbEventStore({ connectionString: config.store.connection_string as string });
  }
  return openLmdbEventStore({ path: join(config.storage.data_dir, 'store') });
}
