import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import { open } from 'lmdb';
import { writeTransaction } from '../../src/infra/eventstore/lmdb/writeTransaction.ts';
import { StorageFullError } from '../../src/infra/eventstore/storeErrors.ts';

const withCode = (message: string, code: unknown) => Object.assign(new Error(message), { code });

async function tempRoot(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'operator-write-txn-'));
  const root = open({ path: dir });
  t.teardown(async () => {
    await root.close();
    await rm(dir, { recursive: true, force: true });
  });
  return root;
}

test('writeTransaction: a refusal for want of space leaves as the port StorageFullError, nothing written', async (t) => {
  const root = await tempRoot(t);
  const full = withCode('MDB_MAP_FULL: Environment mapsize limit reached', -30792);
  const error = await t.throwsAsync(
    writeTransaction(root, () => {
      root.putSync('k', 'v');
      throw full;
    }),
  );
  t.true(error instanceof StorageFullError);
  t.like(error, { code: 'insufficient_storage', kind: 'storage_full' });
  t.is(error?.cause, full, 'what LMDB said stays the cause');
  t.is(root.get('k'), undefined, 'the child transaction was rolled back');
});

test('writeTransaction: commits what the callback wrote and passes any other error through unchanged', async (t) => {
  const root = await tempRoot(t);
  t.is(
    await writeTransaction(root, () => {
      root.putSync('k', 'v');
      return 'done';
    }),
    'done',
  );
  t.is(root.get('k'), 'v');
  const other = withCode('EACCES: permission denied', 'EACCES');
  t.is(
    await t.throwsAsync(
      writeTransaction(root, () => {
        throw other;
      }),
    ),
    other,
  );
});
