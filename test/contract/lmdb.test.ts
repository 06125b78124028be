import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { defineEventStoreContract } from './eventStoreContract.ts';

defineEventStoreContract('lmdb', async () => {
  const path = await mkdtemp(join(tmpdir(), 'operator-lmdb-contract-'));
  const store = await openLmdbEventStore({ path });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(path, { recursive: true, force: true });
    },
  };
});
