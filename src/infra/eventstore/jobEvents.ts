import type { JobEvent, NewJobEvent } from '../../domain/events.ts';
import type { EventData, RecordedEvent } from './eventStore.ts';
import { jobIdFromStream } from './eventStore.ts';

/** How a decided job event is stored: the type as the store's event type, the rest as its data. */
export function toEventData(event: NewJobEvent, id: string): EventData {
  const { type, ...data } = event;
  return { id, type, data };
}

/** The canonical event every reader sees, from what the store recorded. */
export function toJobEvent(recorded: RecordedEvent): JobEvent {
  const d = recorded.data as Omit<NewJobEvent, 'type'>;
  return {
    id: recorded.id,
    job_id: jobIdFromStream(recorded.streamId),
    seq: recorded.revision,
    position: recorded.position,
    ts: d.ts,
    type: recorded.type as JobEvent['type'],
    stage: d.stage ?? null,
    status: d.status,
    message: d.message ?? '',
    payload: d.payload ?? {},
    actor: d.actor,
  };
}
