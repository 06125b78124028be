import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { defineEventStoreContract } from './eventStoreContract.ts';
import { defineLogStreamsContract } from './logStreamsContract.ts';
import { defineWebhookStreamsContract } from './webhookStreamsContract.ts';

function lmdbFactory(batchSize?: number) {
  return async () => {
    const path = await mkdtemp(join(tmpdir(), 'operator-lmdb-contract-'));
    const store = await openLmdbEventStore({ path, ...(batchSize ? { batchSize } : {}) });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await rm(path, { recursive: true, force: true });
      },
    };
  };
}

defineEventStoreContract('lmdb', lmdbFactory());
defineWebhookStreamsContract('lmdb', lmdbFactory());
defineLogStreamsContract('lmdb', lmdbFactory());
// Tiny cursor batches put every read and subscription across many batch boundaries.
defineEventStoreContract('lmdb (batchSize 2)', lmdbFactory(2));
