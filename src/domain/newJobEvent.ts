import type { EventPayload } from './eventCatalogue.ts';
import type { EventType, JobStatus, NewJobEvent } from './events.ts';

/** An event of the decision: the time and the actor always come from the command; the payload fits its type. */
export function newJobEvent<T extends EventType>(
  command: { ts: string; actor: string },
  type: T,
  fields: { stage: string | null; status: JobStatus; message: string; payload: EventPayload<T> },
): NewJobEvent {
  return {
    type,
    ts: command.ts,
    stage: fields.stage,
    status: fields.status,
    message: fields.message,
    payload: fields.payload,
    actor: command.actor,
  };
}

/** Milliseconds between two ISO times, or null when either is missing. */
export function elapsedMs(from: string | null, to: string): number | null {
  if (from === null) return null;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}
