import { mkdir, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PRIVATE_DIR_MODE } from '../infra/files/privateFile.ts';
import { mapLimit, runPaths } from '../projections/index.ts';
import { fsyncDir, listFiles, listJobDirs } from './runFiles.ts';

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
 * `rename` (atomic: a reader sees the old or the new file, whole); files already identical stay as they are. Gate files go before `state.json`, as
 * the state projection writes them. Projection files of jobs the rebuild did not produce are removed.
 * Only projection files are touched: a job's `logs/` and `work/` stay. Every directory touched is fsynced
 * before this resolves, so the checkpoints may move next.
 */
export async function swapRunFiles(staging: string, runsDir: string, parts: SwapParts): Promise<SwapSummary> {
  const staged = await listJobDirs(staging);
  const stagedSet = new Set(staged);
  const stale = (await listJobDirs(runsDir)).filter((id) => !stagedSet.has(id));
  await mkdir(runsDir, { recursive: true });
  let changed = 0;
  await mapLimit(staged, 16, async (jobId) => {
    const from = runPaths(staging, jobId);
    const to = runPaths(runsDir, jobId);
    // Files the rebuild produced identically are left in place: the swap (and the writer's pause) costs
    // only what differs.
    const replace = async (source: string, target: string): Promise<boolean> => {
      if (await sameContent(source, target)) return false;
      await renameIfExists(source, target);
      return true;
    };
    let touched = false;
    await mkdir(to.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    if (parts.state) {
      const gates = await listFiles(from.gatesDir, '.json');
      const liveGates = await listFiles(to.gatesDir, '.json');
      let gatesTouched = false;
      if (gates.length > 0) await mkdir(to.gatesDir, { recursive: true });
      for (const file of gates)
        if (await replace(`${from.gatesDir}/${file}`, `${to.gatesDir}/${file}`)) gatesTouched = true;
      for (const file of liveGates)
        if (!gates.includes(file)) {
          await rm(`${to.gatesDir}/${file}`, { force: true });
          gatesTouched = true;
        }
      if (gatesTouched) await fsyncDir(to.gatesDir);
      if (await replace(from.state, to.state)) touched = true;
    }
    if (parts.jsonl && (await replace(from.events, to.events))) touched = true;
    if (parts.logs) {
      const fromLogs = join(from.dir, 'logs');
      const toLogs = join(to.dir, 'logs');
      let logsTouched = false;
      const logs = await listFiles(fromLogs, '.log');
      if (logs.length > 0) await mkdir(toLogs, { recursive: true, mode: PRIVATE_DIR_MODE });
      for (const file of logs)
        if (await replace(join(fromLogs, file), join(toLogs, file))) logsTouched = true;
      if (logsTouched) {
        await fsyncDir(toLogs);
        touched = true;
      }
    }
    if (touched) await fsyncDir(to.dir);
    if (touched) changed++;
  });
  await mapLimit(stale, 16, async (jobId) => {
    const paths = runPaths(runsDir, jobId);
    if (parts.jsonl) await rm(paths.events, { force: true });
    if (parts.state) {
      for (const file of await listFiles(paths.gatesDir, '.json'))
        await rm(`${paths.gatesDir}/${file}`, { force: true });
      await removeIfEmpty(paths.gatesDir);
      await rm(paths.state, { force: true });
    }
    await fsyncDir(paths.dir);
    await removeIfEmpty(paths.dir);
  });
  await fsyncDir(runsDir);
  return { jobs: staged.length, changed, removed: stale.length };
}

/** Both files exist with the same bytes (a missing source counts as the same: nothing to move). */
async function sameContent(source: string, target: string): Promise<boolean> {
  const [a, b] = await Promise.all([stat(source).catch(() => null), stat(target).catch(() => null)]);
  if (a === null) return true;
  if (b === null || a.size !== b.size) return false;
  const [x, y] = await Promise.all([readFile(source), readFile(target)]);
  return x.equals(y);
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
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
