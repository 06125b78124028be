import type { JobEvent } from '../domain/events.ts';
import type { RecordedEvent } from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../infra/eventstore/jobEvents.ts';
import type { QueueFrontRequest } from './queueFront.ts';
import { queueFrontRequest } from './queueFront.ts';

/** What the runner and the queue view fold from the log: a job's event, or a queue-front request. */
export type QueueLogItem =
  | { kind: 'job'; event: JobEvent }
  | { kind: 'front'; request: QueueFrontRequest; at: bigint };

/** Reads one event of the job and queue-front streams; `undefined` for anything else. */
export function readQueueLog(recorded: RecordedEvent): QueueLogItem | undefined {
  const request = queueFrontRequest(recorded);
  if (request) return { kind: 'front', request, at: BigInt(recorded.position) };
  if (recorded.streamId.startsWith(JOB_STREAM_PREFIX)) return { kind: 'job', event: toJobEvent(recorded) };
  return undefined;
}
