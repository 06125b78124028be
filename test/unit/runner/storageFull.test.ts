import test from 'ava';
import { isStorageFullError } from '../../../src/infra/files/storageFull.ts';

const withCode = (message: string, code: unknown) => Object.assign(new Error(message), { code });

test('isStorageFullError: ENOSPC, EDQUOT and MDB_MAP_FULL, as thrown by node:fs and lmdb-js, also as a cause', (t) => {
  t.true(isStorageFullError(withCode("ENOSPC: no space left on device, write '/x'", 'ENOSPC')));
  t.true(isStorageFullError(withCode('EDQUOT: disk quota exceeded, write', 'EDQUOT')));
  t.true(isStorageFullError(withCode('No space left on device', 28)));
  t.true(isStorageFullError(withCode('MDB_MAP_FULL: Environment mapsize limit reached', -30792)));
  t.true(isStorageFullError(new Error('append failed', { cause: withCode('x', 'ENOSPC') })));
});

test('isStorageFullError: anything else is not', (t) => {
  t.false(isStorageFullError(withCode('EACCES: permission denied', 'EACCES')));
  t.false(isStorageFullError(withCode('MDB_CORRUPTED: Located page was wrong type', -30796)));
  t.false(isStorageFullError(new Error('wrong expected revision')));
  t.false(isStorageFullError('ENOSPC'));
  t.false(isStorageFullError(undefined));
});
