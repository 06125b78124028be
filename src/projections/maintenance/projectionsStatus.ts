import type { EventStore } from '../../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../../infra/eventstore/eventStore.ts';
import type { LeaseRecord } from '../../infra/leases/lmdbLeases.ts';
import { ProjectionLeases, REBUILD_LEASE, WRITER_LEASE } from '../../infra/leases/projectionLeases.ts';
import type { ReadModelStore } from '../index.ts';
import { READ_MODEL_CHECKPOINT } from '../index.ts';
import { countJobEvents } from '../jobEventLag.ts';
import type { ProjectionName } from './rebuildProjections.ts';
import { PROJECTION_NAMES } from './rebuildProjections.ts';

export interface ProjectionStatusRow {
  name: ProjectionName;
  checkpoint: string | null;
  store_head: string | null;
  /** Events between the checkpoint and the head. */
  lag_events: number;
  /** How long the oldest event not applied yet has been in the store (0 when caught up). */
  lag_seconds: number | null;
  last_error: string | null;
  last_error_at: string | null;
}

export interface ProjectionsStatus {
  store_head: string | null;
  generation: number;
  /** The process writing the projections (a server), or null when none holds the lease. */
  writer: LeaseRecord | null;
  /** A rebuild (or retention sweep) in progress. */
  rebuild: LeaseRecord | null;
  projections: ProjectionStatusRow[];
}

/** Checkpoints, lag and last errors, from the read model env and the store (the server need not run). */
export async function projectionsStatus(
  store: EventStore,
  rms: ReadModelStore,
  now: () => number = Date.now,
): Promise<ProjectionsStatus> {
  const leases = new ProjectionLeases(rms.env);
  const head = await store.headPosition();
  const generation = rms.generation();
  const checkpoints: Record<ProjectionName, string | null> = {
    jsonl: rms.checkpoints.get('jsonl'),
    state: rms.checkpoints.get('state'),
    readmodel: rms.tables(generation).checkpoints.get(READ_MODEL_CHECKPOINT) ?? null,
    logs: rms.checkpoints.get('logs'),
  };
  const projections: ProjectionStatusRow[] = [];
  for (const name of PROJECTION_NAMES) {
    const checkpoint = checkpoints[name];
    // Job events only, counted: as the server's metric and /status/ops (the head also moves with leases and
    // webhooks, which no projection follows).
    const lag = head === null ? 0 : await countJobEvents(store, checkpoint, head);
    let lagSeconds: number | null = 0;
    if (lag > 0) {
      const next = await firstAfter(store, checkpoint);
      // No job event after the checkpoint: the head moved with other streams only (leases, webhooks).
      lagSeconds = next === null ? 0 : Math.max(0, Math.round((now() - next) / 100) / 10);
    }
    const error = leases.lastError(name);
    projections.push({
      name,
      checkpoint,
      store_head: head,
      lag_events: lag,
      lag_seconds: lagSeconds,
      last_error: error?.last_error ?? null,
      last_error_at: error?.at ?? null,
    });
  }
  const live = (record: LeaseRecord | undefined) => (record && leases.isLive(record) ? record : null);
  return {
    store_head: head,
    generation,
    writer: live(leases.read(WRITER_LEASE)),
    rebuild: live(leases.read(REBUILD_LEASE)),
    projections,
  };
}

/** When the store recorded the first job event after the checkpoint (other streams do not count). */
async function firstAfter(store: EventStore, checkpoint: string | null): Promise<number | null> {
  const from = checkpoint === null ? 'start' : (BigInt(checkpoint) + 1n).toString();
  for await (const event of store.readAll({
    fromPosition: from,
    maxCount: 1,
    filter: { streamNamePrefix: [JOB_STREAM_PREFIX] },
  }))
    return Date.parse(event.created);
  return null;
}
