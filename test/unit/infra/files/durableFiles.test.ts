import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ensureDir, fsyncDir, writeFileAtomic } from '../../../../src/infra/files/durableFiles.ts';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'operator-durable-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('fsyncDir syncs a directory that exists and answers true', async (t) => {
  const dir = await tempDir(t);
  t.true(await fsyncDir(dir));
});

test('fsyncDir skips a directory that does not exist and answers false (the one rule for a missing directory)', async (t) => {
  const dir = await tempDir(t);
  t.false(await fsyncDir(join(dir, 'never-made')));
  await mkdir(join(dir, 'gone'));
  await rm(join(dir, 'gone'), { recursive: true });
  t.false(await fsyncDir(join(dir, 'gone')), 'removed before the sync');
});

test('fsyncDir throws for anything else than a missing directory', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'file'), 'x');
  // A path through a file is not "missing": ENOTDIR says the layout is broken, the caller must hear it.
  await t.throwsAsync(fsyncDir(join(dir, 'file', 'below')), { code: 'ENOTDIR' });
});

test('ensureDir creates the missing parents private (0700) and leaves an existing directory alone', async (t) => {
  const dir = await tempDir(t);
  const deep = join(dir, 'a', 'b', 'c');
  await ensureDir(deep);
  t.is((await stat(deep)).mode & 0o777, 0o700);
  t.is((await stat(join(dir, 'a'))).mode & 0o777, 0o700);
  await ensureDir(deep);
  t.true((await stat(deep)).isDirectory());
});

test('writeFileAtomic replaces the file whole and leaves no temp file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state.json');
  await writeFileAtomic(path, '{"a":1}');
  await writeFileAtomic(path, '{"a":2}');
  t.is(await readFile(path, 'utf8'), '{"a":2}');
  t.is((await stat(path)).mode & 0o777, 0o600);
  await t.throwsAsync(stat(`${path}.tmp`), { code: 'ENOENT' });
});
