import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobEvent } from '../../src/domain/events.ts';
import { JOB_STREAM_PREFIX } from '../../src/infra/eventstore/eventStore.ts';
import { toJobEvent } from '../../src/infra/eventstore/jobEvents.ts';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { runPaths } from '../../src/infra/files/runsLayout.ts';
import { expectedJobFiles } from '../../src/projections/index.ts';
import { OPERATOR_BIN, REPO_ROOT } from '../lib/nodeChild.ts';

export interface StoreJobs {
  /** Every job's events in seq order, from the store. */
  jobs: Map<string, JobEvent[]>;
  /** Every event id in the store with its job and seq. */
  ids: Map<string, { job_id: string; seq: number }>;
  total: number;
}

/** Reads the whole store (the server must not be writing, or the read is a snapshot). */
export async function readStoreJobs(dataDir: string): Promise<StoreJobs> {
  const store = await openLmdbEventStore({ path: join(dataDir, 'store') });
  const jobs = new Map<string, JobEvent[]>();
  const ids = new Map<string, { job_id: string; seq: number }>();
  let total = 0;
  try {
    for await (const recorded of store.readAll({ filter: { streamNamePrefix: [JOB_STREAM_PREFIX] } })) {
      const event = toJobEvent(recorded);
      const list = jobs.get(event.job_id) ?? [];
      list.push(event);
      jobs.set(event.job_id, list);
      ids.set(event.id, { job_id: event.job_id, seq: event.seq });
      total++;
    }
  } finally {
    await store.close();
  }
  return { jobs, ids, total };
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** The structural promises of events.jsonl: whole lines only, seq 0..n-1 without duplicate. */
export function jsonlProblems(jobId: string, text: string | null, expectedCount: number): string[] {
  if (text === null) return [`${jobId}: events.jsonl missing`];
  const problems: string[] = [];
  if (text.length > 0 && !text.endsWith('\n')) problems.push(`${jobId}: events.jsonl ends with a torn line`);
  const seqs: number[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    try {
      seqs.push((JSON.parse(line) as { seq: number }).seq);
    } catch {
      problems.push(`${jobId}: events.jsonl line ${i + 1} is not whole JSON`);
    }
  }
  const duplicates = seqs.length - new Set(seqs).size;
  if (duplicates > 0) problems.push(`${jobId}: events.jsonl has ${duplicates} duplicate seq`);
  if (!seqs.every((seq, i) => seq === i))
    problems.push(`${jobId}: events.jsonl seqs are not 0..${seqs.length - 1}`);
  if (seqs.length !== expectedCount)
    problems.push(`${jobId}: events.jsonl has ${seqs.length} lines, the store ${expectedCount} events`);
  return problems;
}

/**
 * Recomputes every job's files from the store (expectedJobFiles, the function `operator projections verify`
 * is built on) and diffs them byte for byte against the runs dir, with the structural checks of events.jsonl
 * on top. The read model is left to the CLI's verify. The server must be stopped.
 */
export async function verifyProjections(
  dataDir: string,
  runsDir: string,
  stored?: StoreJobs,
): Promise<string[]> {
  const { jobs } = stored ?? (await readStoreJobs(dataDir));
  const problems: string[] = [];
  for (const [jobId, events] of jobs) {
    const paths = runPaths(runsDir, jobId);
    const files = expectedJobFiles(jobId, events);
    const jsonl = await readText(paths.events);
    problems.push(...jsonlProblems(jobId, jsonl, events.length));
    if (jsonl !== files.jsonl) problems.push(`${jobId}: events.jsonl differs from the store`);
    if ((await readText(paths.state)) !== files.state)
      problems.push(`${jobId}: state.json differs from the store`);
    const gateFiles = (await readdir(paths.gatesDir).catch(() => [] as string[])).filter((f) =>
      f.endsWith('.json'),
    );
    for (const [gate, text] of Object.entries(files.gates)) {
      const actual = await readText(paths.gate(gate));
      if (actual === null) problems.push(`${jobId}: gates/${gate}.json missing`);
      else if (actual !== text) problems.push(`${jobId}: gates/${gate}.json differs from the store`);
    }
    for (const f of gateFiles)
      if (!(f.slice(0, -5) in files.gates)) problems.push(`${jobId}: gates/${f} should not exist`);
  }
  return problems;
}

/** `operator projections verify --config <file>`: exit 0 when the files and the read model match the store. */
export function cliVerify(configPath: string): { ok: boolean; output: string } {
  const r = spawnSync('node', [OPERATOR_BIN, 'projections', 'verify', '--config', configPath], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim().split('\n').slice(-5).join(' | ') };
}
