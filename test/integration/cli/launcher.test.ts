import { copyFile, mkdir, mkdtemp, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { BIN, type CliResult, ROOT, runCli } from '../../helpers/cli.ts';

/**
 * `bin/operator.js` runs a bundle of src/ made on the first start after a change. These tests give it a
 * project of its own (a copy of the launcher, two small source files, node_modules linked package by
 * package so its cache stays in the temp dir) and check that what runs is always the sources as they are.
 */

interface Project {
  dir: string;
  cacheDir: string;
  write(file: string, text: string): Promise<void>;
  run(): Promise<CliResult>;
}

async function project(): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'operator-launcher-'));
  await mkdir(join(dir, 'bin'));
  await mkdir(join(dir, 'src', 'cli'), { recursive: true });
  await mkdir(join(dir, 'node_modules'));
  await copyFile(BIN, join(dir, 'bin', 'operator.js'));
  await copyFile(join(ROOT, 'package.json'), join(dir, 'package.json'));
  for (const name of await readdir(join(ROOT, 'node_modules')))
    if (name !== '.cache') await symlink(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name));
  const write = (file: string, text: string) => writeFile(join(dir, 'src', file), text);
  // The entry prints what its sibling says and where the sibling's `import.meta.url` points.
  await write('cli/main.ts', "import { said, where } from './said.ts';\nconsole.log(said + ' ' + where);\n");
  await write('cli/said.ts', "export const said: string = 'v1';\nexport const where = import.meta.url;\n");
  const run = () => runCli([], { bin: join(dir, 'bin', 'operator.js'), cwd: dir });
  return { dir, cacheDir: join(dir, 'node_modules', '.cache', 'operator'), write, run };
}

const bundles = async (p: Project) =>
  (await readdir(p.cacheDir).catch(() => [] as string[])).filter((n) => !n.endsWith('.tmp'));

test('the first start bundles the sources; a module finds its own files as from the sources', async (t) => {
  const p = await project();
  t.teardown(() => rm(p.dir, { recursive: true, force: true }));
  const saidUrl = pathToFileURL(join(p.dir, 'src', 'cli', 'said.ts')).href;
  const first = await p.run();
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout, `v1 ${saidUrl}\n`);
  t.is((await bundles(p)).length, 1, 'one bundle made');
  const again = await p.run();
  t.is(again.stdout, first.stdout);
  t.is((await bundles(p)).length, 1, 'the same bundle used again');
});

test("an error's stack names the source file and line, not the bundle's", async (t) => {
  const p = await project();
  t.teardown(() => rm(p.dir, { recursive: true, force: true }));
  await p.write(
    'cli/main.ts',
    "import { f } from './f.ts';\ntry { f(); } catch (e) { console.log((e as Error).stack); }\n",
  );
  await p.write('cli/f.ts', "// one\n// two\nexport function f(): void {\n  throw new Error('boom');\n}\n");
  const r = await p.run();
  t.is(r.code, 0, r.stderr);
  t.is((await bundles(p)).length, 1, 'it ran from a bundle');
  t.regex(r.stdout, /^Error: boom\n {4}at f \(.*\/src\/cli\/f\.ts:4:9\)$/m);
  t.notRegex(r.stdout, /\.cache/);
});

test('a changed, added or removed source file is in the very next start', async (t) => {
  const p = await project();
  t.teardown(() => rm(p.dir, { recursive: true, force: true }));
  t.regex((await p.run()).stdout, /^v1 /);
  await p.write('cli/said.ts', "export const said: string = 'v2, longer';\nexport const where = '';\n");
  t.is((await p.run()).stdout, 'v2, longer \n');
  await p.write('cli/other.ts', "export const other = 'v3';\n");
  await p.write('cli/said.ts', "export { other as said } from './other.ts';\nexport const where = '';\n");
  t.is((await p.run()).stdout, 'v3 \n');
  await rm(join(p.dir, 'src', 'cli', 'other.ts'));
  const gone = await p.run();
  t.not(gone.code, 0, 'a missing module fails the start, as from the sources');
  t.regex(gone.stderr, /other\.ts/);
  t.is((await bundles(p)).length, 3, 'a bundle per version of the sources that ran');
});

test('starts side by side on new sources all run them; none sees half a bundle', async (t) => {
  const p = await project();
  t.teardown(() => rm(p.dir, { recursive: true, force: true }));
  const results = await Promise.all(Array.from({ length: 4 }, () => p.run()));
  for (const r of results) t.regex(r.stdout, /^v1 file:/, r.stderr);
  t.deepEqual(await bundles(p), [(await bundles(p))[0]]);
  t.deepEqual(
    (await readdir(p.cacheDir)).filter((n) => n.endsWith('.tmp')),
    [],
    'the losers removed their copies',
  );
});

test('asked not to bundle, or where no bundle can be made, the sources run through tsx', async (t) => {
  const p = await project();
  t.teardown(() => rm(p.dir, { recursive: true, force: true }));
  const expected = `v1 ${pathToFileURL(join(p.dir, 'src', 'cli', 'said.ts')).href}\n`;
  const asked = await runCli([], {
    bin: join(p.dir, 'bin', 'operator.js'),
    cwd: p.dir,
    env: { OPERATOR_NO_BUNDLE: '1' },
  });
  t.is(asked.stdout, expected, asked.stderr);
  t.deepEqual(await bundles(p), [], 'OPERATOR_NO_BUNDLE=1: no bundle made');
  await writeFile(join(p.dir, 'node_modules', '.cache'), 'not a directory');
  const r = await p.run();
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, expected);
});

test('a bundle a start used this week stays; one nobody used for a week goes when a new one is made', async (t) => {
  const p = await project();
  t.teardown(() => rm(p.dir, { recursive: true, force: true }));
  await p.run();
  const [used] = await bundles(p);
  const weekAgo = (Date.now() - 8 * 86_400_000) / 1000;
  await mkdir(join(p.cacheDir, 'abandoned'));
  await writeFile(join(p.cacheDir, 'abandoned', 'main.mjs'), '');
  await utimes(join(p.cacheDir, 'abandoned'), weekAgo, weekAgo);
  await utimes(join(p.cacheDir, used as string), weekAgo, weekAgo);
  t.regex((await p.run()).stdout, /^v1 /);
  const renewed = (await stat(join(p.cacheDir, used as string))).mtimeMs;
  t.true(renewed > Date.now() - 60_000, 'the start renewed the bundle it used');
  await p.write('cli/said.ts', "export const said: string = 'v2';\nexport const where = '';\n");
  t.is((await p.run()).stdout, 'v2 \n');
  const left = await readdir(p.cacheDir);
  t.false(left.includes('abandoned'), 'the unused one is gone');
  t.true(left.includes(used as string), 'the one in use stays');
  t.is(left.length, 2);
});
