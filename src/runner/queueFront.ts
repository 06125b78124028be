import { randomUUID } from 'node:crypto';
import type { EventData, RecordedEvent } from '../infra/eventstore/eventStore.ts';

/**
 * `POST /jobs/{id}/start` without a free lane puts the job at the front of the queue. The request lives in the
 * store (this stream, outside every job's stream and its event cap), so whichever process runs the runner,
 * now or after a restart, honours it.
 */
export const QUEUE_FRONT_STREAM = 'queue-front';
export const QUEUE_FRONT_TYPE = 'queue_front_requested';

export interface QueueFrontRequest {
  job_id: string;
  /** The token name that asked. */
  requested_by: string;
  ts: string;
}

export function queueFrontEvent(request: QueueFrontRequest): EventData {
  return { id: randomUUID(), type: QUEUE_FRONT_TYPE, data: { ...request } };
}

export function queueFrontRequest(recorded: RecordedEvent): QueueFrontRequest | null {
  if (recorded.streamId !== QUEUE_FRONT_STREAM || recorded.type !== QUEUE_FRONT_TYPE) return null;
  const data = recorded.data as Partial<QueueFrontRequest>;
  return typeof data.job_id === 'string'
    ? { job_id: data.job_id, requested_by: String(data.requested_by ?? ''), ts: String(data.ts ?? '') }
    : null;
}
