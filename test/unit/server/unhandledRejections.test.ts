import { Writable } from 'node:stream';
import test from 'ava';
import { commitFailureReason, isLmdbCommitFailure } from '../../../src/infra/lmdb/commitFailure.ts';
import { createLogger } from '../../../src/infra/logging/logger.ts';
import { unhandledRejectionListener } from '../../../src/server/unhandledRejections.ts';

/** lmdb-js 3's failed commit as write.js builds it: the wrapper, and LMDB's error in its `commitError`. */
function lmdbCommitFailure(reason: Error): { wrapper: Error; commitError: Promise<never> } {
  let reject: (error: Error) => void = () => {};
  const commitError = new Promise<never>((_, r) => {
    reject = r;
  });
  const wrapper = Object.assign(new Error('Commit failed (see commitError for details)'), { commitError });
  reject(reason); // in the same turn as the writes' rejections, as lmdb-js does
  return { wrapper, commitError };
}

const enospc = () =>
  Object.assign(new Error('No space left on device: Attempting to write page at position 57344'), {
    code: 28,
  });

function capture() {
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    }),
  });
  const exits: number[] = [];
  return { lines, exits, listener: unhandledRejectionListener(logger, (code) => exits.push(code)) };
}

test('commitFailureReason: LMDB error of lmdb-js commit failure, its commitError handled; other errors as they are', async (t) => {
  const reason = enospc();
  const { wrapper } = lmdbCommitFailure(reason);
  t.true(isLmdbCommitFailure(wrapper));
  t.is(await commitFailureReason(wrapper), reason);
  const plain = new Error('plain');
  t.false(isLmdbCommitFailure(plain));
  t.is(await commitFailureReason(plain), plain);
});

test('unhandled rejections: lmdb-js commit failures and full-disk refusals are ridden out; anything else exits 1', async (t) => {
  const { lines, exits, listener } = capture();
  listener(lmdbCommitFailure(enospc()).wrapper);
  listener(lmdbCommitFailure(Object.assign(new Error('Input/output error'), { code: 5 })).wrapper);
  listener(enospc());
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(exits, []);
  t.deepEqual(
    lines.map((l) => [l.level, l.msg]),
    [
      [40, 'storage full: a write nobody awaited was refused'],
      [20, 'storage: a write batched by lmdb-js failed to commit'],
      [40, 'storage: a write batched by lmdb-js failed to commit'],
    ],
  );
  listener(new TypeError('a defect'));
  t.deepEqual(exits, [1]);
  t.is(lines.at(-1)?.msg, 'unhandled promise rejection; exiting');
});
