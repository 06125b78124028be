import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { EventStore } from '../../src/infra/eventstore/eventStore.ts';
import type { GenerationTables, Projections } from '../../src/projections/index.ts';
import { createProjections, ReadModelStore } from '../../src/projections/index.ts';
import { JobTraffic } from './jobTraffic.ts';
import { MemoryEventStore } from './memoryEventStore.ts';

export interface Harness {
  store: EventStore;
  traffic: JobTraffic;
  dir: string;
  dataDir: string;
  runsDir: string;
  projections: Projections;
  /** Closes the projections and opens them again over the same dirs (a restart). */
  reopen(options?: { batchSize?: number }): Promise<Projections>;
  /** Waits until every projection has applied the store's head. */
  settle(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function harness(options: { store?: EventStore; batchSize?: number } = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'operator-projections-'));
  const store = options.store ?? new MemoryEventStore({ chunkSize: 16 });
  const dataDir = join(dir, 'data');
  const runsDir = join(dir, 'runs');
  const open = (batchSize = options.batchSize) => createProjections({ store, dataDir, runsDir, batchSize });
  const h: Harness = {
    store,
    traffic: new JobTraffic(store),
    dir,
    dataDir,
    runsDir,
    projections: open(),
    async reopen(reopenOptions = {}) {
      await h.projections.close();
      h.projections = open(reopenOptions.batchSize);
      return h.projections;
    },
    async settle() {
      const head = await store.headPosition();
      if (head === null) return;
      if (!h.projections.runner.running) await h.projections.runner.start();
      const reached = await h.projections.runner.waitForPosition(head, 10_000);
      if (!reached)
        throw new Error(
          `projections did not reach ${head}: ${JSON.stringify(h.projections.runner.status())}`,
        );
    },
    async cleanup() {
      await h.projections.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Every file under `dir`, by relative path, with its content (temp files left by a crash excluded). */
export async function readTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const entry of entries) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (!entry.name.endsWith('.tmp')) out.set(relative(dir, path), await readFile(path, 'utf8'));
    }
  };
  await walk(dir);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Each table of a read model generation (its `generation` marker left out) as `[key, value]` JSON rows, in
 * key order. The search index's rows are cut at batch boundaries, which differ between a resumed and a fresh
 * run: its rows are listed as what they mean, one `[field, value, position]` per indexed event.
 */
export function generationRows(tables: GenerationTables): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, db] of Object.entries(tables)) {
    if (name === 'generation') continue;
    const rows: string[] = [];
    if (name === 'searchPostings')
      for (const { key, value } of tables.searchPostings.getRange({}))
        for (const position of value.match(/\d{20}/g) ?? [])
          rows.push(JSON.stringify([key[0], key[1], position]));
    else
      for (const { key, value } of (db as GenerationTables['events']).getRange({}))
        rows.push(JSON.stringify([key, value]));
    out[name] = rows;
  }
  return out;
}

/** A read model in a temp dir of its own, closed and removed when the test ends. */
export async function tempReadModel(
  t: ExecutionContext,
  prefix: string,
): Promise<{ store: ReadModelStore; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const store = ReadModelStore.open(dir);
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { store, dir };
}
