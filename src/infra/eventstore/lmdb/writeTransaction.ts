import type { RootDatabase } from 'lmdb';
import { lmdbWrite } from '../../lmdb/lmdbWrite.ts';

/**
 * Runs `write` in a child transaction, so a throw half-way rolls its writes back. A commit refused for want
 * of space (ENOSPC, EDQUOT, MDB_MAP_FULL, a short write on a full disk) leaves as the port's
 * `StorageFullError`, whatever lmdb-js threw (see `lmdbWrite`).
 */
export function writeTransaction<T>(root: RootDatabase, write: () => T): Promise<T> {
  return lmdbWrite(root, () => root.childTransaction(write));
}
