import type { JobEvent, NewJobEvent } from '../../domain/events.ts';
import { EVENT_VERSIONS, storedVersion, upcastPayload } from '../../domain/eventVersions.ts';
import type { EventData, RecordedEvent } from './eventStore.ts';
import { jobIdFromStream } from './eventStore.ts';

/**
 * How a decided job event is stored: the type as the store's event type, the rest as its data, and the
 * type's payload schema version in the metadata (so the wire payload never carries it).
 */
export function toEventData(event: NewJobEvent, id: string): EventData {
  const { type, ...data } = event;
  return { id, type, data, metadata: { schema_version: EVENT_VERSIONS[type] } };
}

/**
 * The canonical event every reader sees, from what the store recorded: the one place stored payloads are
 * upcast to their type's current version, before anything folds them.
 */
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
    payload: upcastPayload(recorded.type, storedVersion(recorded.metadata), d.payload ?? {}),
    actor: d.actor,
  };
}
