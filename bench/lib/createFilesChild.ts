// A third baseline of the rebuild: its job files alone. The shape of a rebuilt runs dir (the same
// directories, files of the same names and sizes, zero-filled) is made again in a new directory beside it,
// 16 jobs at a time as the projections write them, with nothing else done: what this file system charges
// for the inodes and bytes a rebuild makes, in the state it is in now (on a journal-less ext4, creating an
// inode slows down a lot for hours after many were deleted near it).
// Run: node --import tsx bench/lib/createFilesChild.ts --from <runs dir> --to <new dir>
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mapLimit } from '../../src/projections/mapLimit.ts';
import { emit } from './rpc.ts';

const { values } = parseArgs({ options: { from: { type: 'string' }, to: { type: 'string' } } });
if (!values.from || !values.to) throw new Error('--from and --to are required');
const from = values.from;
const to = values.to;

interface JobShape {
  /** Directories under the job's, parents first ('' is the job's own). */
  dirs: string[];
  files: { path: string; size: number }[];
}

async function shapeOf(root: string): Promise<JobShape> {
  const shape: JobShape = { dirs: [''], files: [] };
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(join(root, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : join(rel, entry.name);
      if (entry.isDirectory()) {
        shape.dirs.push(path);
        await walk(path);
      } else if (entry.isFile()) shape.files.push({ path, size: (await stat(join(root, path))).size });
    }
  };
  await walk('');
  return shape;
}

// Not timed: what to make.
const jobs = (await readdir(from, { withFileTypes: true })).filter(
  (e) => e.isDirectory() && !e.name.startsWith('.'),
);
const shapes: { name: string; shape: JobShape }[] = [];
await mapLimit(jobs, 16, async (e) => {
  shapes.push({ name: e.name, shape: await shapeOf(join(from, e.name)) });
});
const largest = Math.max(0, ...shapes.flatMap(({ shape }) => shape.files.map((f) => f.size)));
const zeros = Buffer.alloc(largest);
await mkdir(to);

const cpu0 = process.cpuUsage();
const t0 = performance.now();
await mapLimit(shapes, 16, async ({ name, shape }) => {
  for (const dir of shape.dirs) await mkdir(join(to, name, dir), { mode: 0o700 });
  for (const file of shape.files)
    await writeFile(join(to, name, file.path), zeros.subarray(0, file.size), { flag: 'wx', mode: 0o600 });
});
const createMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
emit('result', {
  jobs: shapes.length,
  dirs: shapes.reduce((n, { shape }) => n + shape.dirs.length, 0),
  files: shapes.reduce((n, { shape }) => n + shape.files.length, 0),
  bytes: shapes.reduce((n, { shape }) => n + shape.files.reduce((m, f) => m + f.size, 0), 0),
  createMs,
  userMs: cpu.user / 1000,
  systemMs: cpu.system / 1000,
});
