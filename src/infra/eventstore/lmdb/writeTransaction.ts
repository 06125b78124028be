import type { RootDatabase } from 'lmdb';
import { isStorageFullError } from '../../files/storageFull.ts';
import { StorageFullError } from '../storeErrors.ts';

/**
 * Runs `write` in a child transaction, so a throw half-way rolls its writes back. A commit refused for want
 * of space (ENOSPC, EDQUOT, MDB_MAP_FULL) leaves as the port's `StorageFullError`, whatever lmdb-js threw.
 */
export async function writeTransaction<T>(root: RootDatabase, write: () => T): Promise<T> {
  try {
    return await root.childTransaction(write);
  } catch (error) {
    throw isStorageFullError(error) ? new StorageFullError(error) : error;
  }
}
