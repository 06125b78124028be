import type { JobEvent } from '../../domain/events.ts';
import { STORED_NAME_PATTERN } from '../../domain/events.ts';
import type { EventStore } from '../../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX, jobIdFromStream, jobStreamName } from '../../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../../infra/eventstore/jobEvents.ts';
import { listJobDirs } from '../../infra/files/runsLayout.ts';
import type { ReadModelStore } from '../index.ts';
import { READ_MODEL_CHECKPOINT } from '../index.ts';
import type { ProjectionDifference } from './projectionDifference.ts';
import type { ProjectionName } from './rebuildProjections.ts';
import { readJobFiles, verifyJsonl, verifyStateFiles } from './verifyJobFiles.ts';
import { snapshotReadModelJob, verifyReadModelJob } from './verifyReadModel.ts';
import { verifyReadModelIndexes } from './verifyReadModelIndexes.ts';
import { verifyStageLogs } from './verifyStageLogs.ts';

export interface VerifyOptions {
  store: EventStore;
  readModelStore: ReadModelStore;
  runsDir: string;
  names: readonly ProjectionName[];
}

export interface VerifyReport {
  jobs: number;
  events: number;
  store_head: string | null;
  checkpoints: Record<ProjectionName, string | null>;
  generation: number;
  differences: ProjectionDifference[];
}

/**
 * Recomputes every projection from the store and diffs it against `runs/` and the read model: each job's
 * events are folded exactly as the live projections fold them (`expectedJobFiles`, `expectedReadModelJob`).
 * Each projection is compared up to its own checkpoint, and what a projection holds is read *before* the
 * store, so a server writing meanwhile cannot cause a false difference: everything it wrote is in the store
 * by then. Jobs come from the log, the runs dir and the read model (a job only one of them knows is a
 * difference too).
 */
export async function verifyProjections(options: VerifyOptions): Promise<VerifyReport> {
  const { store, readModelStore: rms, runsDir, names } = options;
  const checkpoints = {
    jsonl: rms.checkpoints.get('jsonl'),
    state: rms.checkpoints.get('state'),
    readmodel: rms.read(
      (t, transaction) => t.checkpoints.get(READ_MODEL_CHECKPOINT, { transaction }) ?? null,
    ),
    logs: rms.checkpoints.get('logs'),
  };
  const generation = rms.generation();
  const jobs = new Set<string>();
  let events = 0;
  for await (const recorded of store.readAll({ filter: { streamNamePrefix: [JOB_STREAM_PREFIX] } })) {
    jobs.add(jobIdFromStream(recorded.streamId));
    events++;
  }
  const storeHead = await store.headPosition();
  const checksFiles = names.includes('jsonl') || names.includes('state') || names.includes('logs');
  if (checksFiles) for (const jobId of await listJobDirs(runsDir)) jobs.add(jobId);
  if (names.includes('readmodel'))
    rms.read((t, transaction) => {
      for (const { key } of t.jobs.getRange({ transaction })) jobs.add(key);
    });

  const differences: ProjectionDifference[] = [];
  for (const jobId of [...jobs].sort()) {
    const snapshot = names.includes('readmodel') ? snapshotReadModelJob(rms, jobId) : undefined;
    const files =
      checksFiles && STORED_NAME_PATTERN.test(jobId) ? await readJobFiles(runsDir, jobId) : undefined;
    const jobEvents = await readJob(store, jobId);
    if (files && names.includes('jsonl'))
      differences.push(...verifyJsonl(files, jobEvents, checkpoints.jsonl));
    if (files && names.includes('state'))
      differences.push(...verifyStateFiles(files, jobEvents, checkpoints.state));
    if (snapshot) differences.push(...verifyReadModelJob(rms, snapshot, jobId, jobEvents));
    if (files && names.includes('logs'))
      differences.push(...(await verifyStageLogs(store, runsDir, jobId, jobEvents, checkpoints.logs)));
  }
  if (names.includes('readmodel')) differences.push(...verifyReadModelIndexes(rms));
  return { jobs: jobs.size, events, store_head: storeHead, checkpoints, generation, differences };
}

async function readJob(store: EventStore, jobId: string): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for await (const recorded of store.readStream(jobStreamName(jobId))) events.push(toJobEvent(recorded));
  return events;
}
