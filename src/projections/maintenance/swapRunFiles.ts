import { lstat, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isUnsafeFileError, PRIVATE_DIR_MODE, readPrivateBytes } from '../../infra/files/privateFile.ts';
import { listAllNames, listFiles, listJobDirs, runPaths } from '../../infra/files/runsLayout.ts';
import { mapLimit, syncDirectories } from '../index.ts';

export interface SwapParts {
  /** `events.jsonl` */
  jsonl: boolean;
  /** `state.json` and `gates/*.json` */
  state: boolean;
  /**
   * `logs/<stage>.log` of the stages the store has log records of. Log files the rebuild did not produce
   * (output of attempts from before logs were in the store, the reaper's notes) are left as they are.
   */
  logs?: boolean;
}

export interface SwapSummary {
  /** Jobs the rebuild produced files for. */
  jobs: number;
  /** Of those, jobs whose live files differed and were replaced. */
  changed: number;
  /** Jobs whose projection files were removed: the log has no (visible) event of theirs. */
  removed: number;
}

/**
 * Moves rebuilt projection files from `staging/<id>/` over `runs/<id>/`, one file at a time with
 * `rename` (atomic: a reader sees the old or the new file, whole); files already identical stay as they
 * are. The staged files must be durable already (the rebuild syncs them once, before). Gate files of every
 * job go first and are made durable before any `state.json` moves, as the state projection writes them: a
 * crash in between never leaves a `state.json` ahead of its gates. Projection files of jobs the rebuild did
 * not produce are removed. Only projection files are touched: a job's `work/` and the log files the rebuild
 * did not produce stay. The renames are made durable before this resolves (one syncfs of the runs dir per
 * step, or an fsync of each directory touched), so the checkpoints may move next.
 */
export async function swapRunFiles(staging: string, runsDir: string, parts: SwapParts): Promise<SwapSummary> {
  const staged = await listJobDirs(staging);
  const stagedSet = new Set(staged);
  // A job the rebuild did not produce loses its events and state files; logs are never removed (a job
  // without log records has no staged dir, so a logs-only rebuild has no stale jobs).
  const stale =
    parts.jsonl || parts.state ? (await listJobDirs(runsDir)).filter((id) => !stagedSet.has(id)) : [];
  await mkdir(runsDir, { recursive: true });
  const touched = new Set<string>([runsDir]);
  const changed = new Set<string>();
  // Files the rebuild produced identically are left in place: the swap (and the writer's pause) costs only
  // what differs.
  const move = async (jobId: string, source: string, targetDir: string, name: string): Promise<void> => {
    const target = join(targetDir, name);
    if (await sameContent(source, target)) return;
    await renameIfExists(source, target);
    touched.add(targetDir);
    changed.add(jobId);
  };
  const jobDir = async (dir: string) => {
    if ((await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE })) !== undefined) touched.add(runsDir);
  };

  // A job without a run dir yet (a first rebuild, a job the live projections never saw) gets the staged dir
  // itself: one rename for all its files. Where the dir exists, only projection files move, one by one.
  const perFile: string[] = [];
  await mapLimit(staged, 16, async (jobId) => {
    if (await renameNewDir(runPaths(staging, jobId).dir, runPaths(runsDir, jobId).dir)) changed.add(jobId);
    else perFile.push(jobId);
  });
  if (parts.state) {
    await mapLimit(perFile, 16, async (jobId) => {
      const from = runPaths(staging, jobId);
      const to = runPaths(runsDir, jobId);
      const gates = await listFiles(from.gatesDir, '.json');
      // Every name: a link, a FIFO or a directory a stage put there under a gate file's name goes too.
      const liveGates = await listAllNames(to.gatesDir, '.json');
      if (gates.length > 0) {
        await jobDir(to.dir);
        if ((await mkdir(to.gatesDir, { recursive: true, mode: PRIVATE_DIR_MODE })) !== undefined)
          touched.add(to.dir);
      }
      for (const file of gates) await move(jobId, join(from.gatesDir, file), to.gatesDir, file);
      for (const file of liveGates)
        if (!gates.includes(file)) {
          await rm(join(to.gatesDir, file), { recursive: true, force: true });
          touched.add(to.gatesDir);
          changed.add(jobId);
        }
    });
    await syncDirectories(runsDir, touched);
  }
  await mapLimit(perFile, 16, async (jobId) => {
    const from = runPaths(staging, jobId);
    const to = runPaths(runsDir, jobId);
    await jobDir(to.dir);
    if (parts.state) await move(jobId, from.state, to.dir, 'state.json');
    if (parts.jsonl) await move(jobId, from.events, to.dir, 'events.jsonl');
    if (parts.logs) {
      const fromLogs = from.logsDir;
      const toLogs = to.logsDir;
      const logs = await listFiles(fromLogs, '.log');
      if (logs.length > 0 && (await mkdir(toLogs, { recursive: true, mode: PRIVATE_DIR_MODE })) !== undefined)
        touched.add(to.dir);
      for (const file of logs) await move(jobId, join(fromLogs, file), toLogs, file);
    }
  });
  await mapLimit(stale, 16, async (jobId) => {
    const paths = runPaths(runsDir, jobId);
    // `recursive`: a directory a stage made under a projection file's name goes too (a link is not followed).
    if (parts.jsonl) await rm(paths.events, { recursive: true, force: true });
    if (parts.state) {
      for (const file of await listAllNames(paths.gatesDir, '.json'))
        await rm(join(paths.gatesDir, file), { recursive: true, force: true });
      await removeIfEmpty(paths.gatesDir);
      await rm(paths.state, { recursive: true, force: true });
    }
    touched.add(paths.dir);
    await removeIfEmpty(paths.dir);
  });
  await syncDirectories(runsDir, touched);
  return { jobs: staged.length, changed: changed.size, removed: stale.length };
}

/** Renames `from` to `to` when `to` does not exist (or is an empty directory); false when it has entries. */
async function renameNewDir(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') return false;
    throw error;
  }
}

/**
 * Both files exist with the same bytes (a missing source counts as the same: nothing to move). A target
 * that is not a plain file with one name (a link, a FIFO, a hard link a stage put there) is never the same,
 * and never read (a FIFO would make the read wait for good): the staged file replaces it.
 */
async function sameContent(source: string, target: string): Promise<boolean> {
  const [a, b] = await Promise.all([lstat(source).catch(() => null), lstat(target).catch(() => null)]);
  if (a === null) return true;
  if (b === null || !b.isFile() || a.size !== b.size) return false;
  const read = (path: string) =>
    readPrivateBytes(path).catch((error: unknown) => {
      if (isUnsafeFileError(error)) return null;
      throw error;
    });
  const [x, y] = await Promise.all([read(source), read(target)]);
  return x !== null && y !== null && x.equals(y);
}

/**
 * Renames `from` over `to` (a missing `from`: nothing to move). A directory a stage made under the projection
 * file's name is removed first, as the live projections remove it.
 */
async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'EISDIR' && code !== 'ENOTEMPTY') throw error;
    await rm(to, { recursive: true, force: true });
    await rename(from, to);
  }
}

async function removeIfEmpty(dir: string): Promise<void> {
  try {
    if ((await readdir(dir)).length === 0) await rmdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw error;
  }
}
