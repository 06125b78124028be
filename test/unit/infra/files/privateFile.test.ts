import { execFile } from 'node:child_process';
import { link, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import {
  isUnsafeFileError,
  readPrivateFile,
  readPrivateIfPresent,
} from '../../../../src/infra/files/privateFile.ts';

const execFileP = promisify(execFile);

test('readPrivateFile reads a plain file and refuses, at once, a FIFO (a plain read would wait for a writer for good), a link and a hard link', async (t) => {
  t.timeout(10_000);
  const dir = await mkdtemp(join(tmpdir(), 'operator-private-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const plain = join(dir, 'stage.pid');
  await writeFile(plain, '{"pgid":42}');
  t.is(await readPrivateFile(plain), '{"pgid":42}');

  const outside = join(dir, 'outside');
  await writeFile(outside, 'secret');
  await symlink(outside, join(dir, 'linked.pid'));
  await t.throwsAsync(readPrivateFile(join(dir, 'linked.pid'), 'linked.pid'), {
    message: /linked\.pid is a symbolic link/,
  });
  await execFileP('mkfifo', [join(dir, 'fifo.pid')]);
  await t.throwsAsync(readPrivateFile(join(dir, 'fifo.pid'), 'fifo.pid'), {
    message: /fifo\.pid is not a regular file/,
  });
  await link(outside, join(dir, 'hard.pid'));
  await t.throwsAsync(readPrivateFile(join(dir, 'hard.pid'), 'hard.pid'), { message: /hard link/ });
  await t.throwsAsync(readPrivateFile(join(dir, 'missing.pid')), { code: 'ENOENT' });

  // The same answers as values: bytes, the refusal, or null for nothing there.
  t.is((await readPrivateIfPresent(plain))?.toString(), '{"pgid":42}');
  const refused = await readPrivateIfPresent(join(dir, 'fifo.pid'), 'fifo.pid');
  t.true(isUnsafeFileError(refused));
  t.regex((refused as Error).message, /fifo\.pid is not a regular file/);
  t.is(await readPrivateIfPresent(join(dir, 'missing.pid')), null);
});
