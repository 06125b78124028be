import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { OperatorError } from '../../../domain/errors.ts';
import { PRIVATE_DIR_MODE } from '../../files/privateFile.ts';
// The adapter's own layout (database names, environment flags): maintenance works below the port.
import type { LmdbLayout } from './lmdbLayout.ts';
import { openLmdbLayout, readHead } from './lmdbLayout.ts';
import { isSoftDeleted } from './streamState.ts';

export interface StoreStats {
  path: string;
  /** Events in the log, hidden ones (deleted streams, retention) included: nothing is ever removed. */
  events: number;
  head: string | null;
  streams: number;
  deleted_streams: number;
  /** `data.mdb` on disk. */
  size_bytes: number;
  map_size_bytes: number;
  page_size: number;
  /** Pages the environment spans, pages holding data, and pages free for reuse. */
  pages_total: number;
  pages_used: number;
  pages_free: number;
  last_txn_id: number;
  readers: number;
}

interface DbStats {
  pageSize: number;
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
  entryCount: number;
  lastPageNumber: number;
  mapSize: number;
  lastTxnId: number;
  numReaders: number;
  root: DbStats;
  free: DbStats;
}

/** The LMDB environment of the embedded store under `<dataDir>/store`; it must exist. */
export function storePath(dataDir: string): string {
  return join(dataDir, 'store');
}

/**
 * Counts and page usage of the embedded store, read from a second handle on the environment (LMDB lets
 * another process read while the server writes). Free pages = pages the file spans minus the two meta
 * pages and the pages of every B-tree (main, events, stream index, streams, free list).
 */
export async function lmdbStoreStats(dataDir: string): Promise<StoreStats> {
  const path = storePath(dataDir);
  return withLayout(path, async (layout) => {
    const events = layout.events.getStats() as DbStats;
    const index = layout.streamIndex.getStats() as DbStats;
    const streams = layout.streams.getStats() as DbStats;
    const pages = (s: DbStats) => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
    const total = events.lastPageNumber + 1;
    const used = 2 + pages(events.root) + pages(events.free) + pages(events) + pages(index) + pages(streams);
    let deleted = 0;
    for (const { value } of layout.streams.getRange()) if (isSoftDeleted(value)) deleted++;
    const head = readHead(layout);
    return {
      path,
      events: events.entryCount,
      head: head === undefined ? null : String(head),
      streams: streams.entryCount,
      deleted_streams: deleted,
      size_bytes: (await stat(join(path, 'data.mdb'))).size,
      map_size_bytes: events.mapSize,
      page_size: events.pageSize,
      pages_total: total,
      pages_used: Math.min(used, total),
      pages_free: Math.max(0, total - used),
      last_txn_id: events.lastTxnId,
      readers: events.numReaders,
    };
  });
}

export interface BackupResult {
  path: string;
  bytes: number;
  events: number;
  head: string | null;
}

/**
 * A consistent, compacted copy of the store while it may be in use: LMDB copies the snapshot of one read
 * transaction (`mdb_env_copy2` with `MDB_CP_COMPACT`), leaving free pages out. The target is an empty
 * directory, or a new one in an existing directory. The copy is opened afterwards to report what it holds.
 */
export async function backupLmdbStore(dataDir: string, target: string): Promise<BackupResult> {
  const source = storePath(dataDir);
  const dest = resolve(target);
  if (resolve(source) === dest)
    throw new OperatorError('bad_backup_target', 'the backup target is the store itself', 'invalid');
  const existing = await stat(dest).catch(() => null);
  if (existing && !existing.isDirectory())
    throw new OperatorError(
      'bad_backup_target',
      `${dest} is a file; back up into a new directory`,
      'invalid',
    );
  if (existing && (await readdir(dest)).length > 0)
    throw new OperatorError(
      'bad_backup_target',
      `${dest} is not empty; back up into a new directory`,
      'invalid',
    );
  if (!existsSync(join(source, 'data.mdb')))
    throw new OperatorError('no_store', `no event store at ${source}`, 'not_found');
  if (!existing) await makeBackupDir(dest);
  try {
    await withLayout(source, (layout) => layout.root.backup(dest, true));
  } catch (error) {
    // A failed backup leaves no directory behind that it made.
    if (!existing) await rm(dest, { recursive: true, force: true });
    throw error;
  }
  const copy = await withLayout(dest, async (layout) => ({
    events: (layout.events.getStats() as DbStats).entryCount,
    head: readHead(layout),
  }));
  return {
    path: dest,
    bytes: (await stat(join(dest, 'data.mdb'))).size,
    events: copy.events,
    head: copy.head === undefined ? null : String(copy.head),
  };
}

/**
 * Only the backup directory itself is made, in a parent that exists: a typo in the path does not grow a
 * tree, and a parent that refuses new entries (procfs, where a recursive mkdir retries for ever) fails at once.
 */
async function makeBackupDir(dest: string): Promise<void> {
  const parent = dirname(dest);
  if (!(await stat(parent).catch(() => null))?.isDirectory())
    throw new OperatorError(
      'bad_backup_target',
      `${parent} does not exist or is not a directory: the backup goes into a new directory inside an existing one`,
      'invalid',
    );
  try {
    await mkdir(dest, { mode: PRIVATE_DIR_MODE });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new OperatorError('bad_backup_target', `cannot create the directory ${dest} (${code})`, 'invalid');
  }
}

async function withLayout<T>(path: string, use: (layout: LmdbLayout) => Promise<T>): Promise<T> {
  if (!existsSync(join(path, 'data.mdb')))
    throw new OperatorError('no_store', `no event store at ${path}`, 'not_found');
  const layout = openLmdbLayout(path);
  try {
    return await use(layout);
  } finally {
    await layout.root.close();
  }
}
