import type { EventType, JobStatus, NewJobEvent, Payload } from './events.ts';

/** An event of the decision: the time and the actor always come from the command. */
export function newJobEvent(
  command: { ts: string; actor: string },
  type: EventType,
  fields: { stage: string | null; status: JobStatus; message: string; payload: Payload },
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
