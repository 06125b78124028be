import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { ensureDir, fsyncDir, writeFileAtomic } from '../../../../src/infra/files/durableFiles.ts';

const execFileP = promisify(execFile);

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

test('fsyncDir refuses at once what is not a directory: a file, a FIFO (which a plain open would wait on for good)', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'file'), 'x');
  await t.throwsAsync(fsyncDir(join(dir, 'file')), { code: 'ENOTDIR' });
  await execFileP('mkfifo', [join(dir, 'fifo')]);
  await t.throwsAsync(fsyncDir(join(dir, 'fifo')), { code: 'ENOTDIR' });
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

test('writeFileAtomic makes its temp file anew whatever holds the name: a stale temp file, a link a stage planted (its target untouched), a FIFO', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state.json');
  const temp = `${path}.tmp`;
  const outside = join(dir, 'outside.txt');
  await writeFile(outside, 'not yours');
  const plants: [string, () => Promise<void>][] = [
    ['stale temp file', () => writeFile(temp, '{"torn"')],
    ['symbolic link', () => symlink(outside, temp)],
    ['FIFO', () => execFileP('mkfifo', [temp]).then(() => undefined)],
  ];
  for (const [i, [what, plant]] of plants.entries()) {
    await plant();
    await writeFileAtomic(path, `{"n":${i}}`);
    t.is(await readFile(path, 'utf8'), `{"n":${i}}`, what);
    t.true((await lstat(path)).isFile(), what);
    await t.throwsAsync(lstat(temp), { code: 'ENOENT' }, `${what}: no temp file left`);
  }
  t.is(await readFile(outside, 'utf8'), 'not yours');
});
