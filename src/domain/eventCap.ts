import type { DecideOptions, JobCommand } from './commands.ts';
import { DomainRuleError } from './errors.ts';
import type { EventType, NewJobEvent } from './events.ts';
import { jobMessages } from './jobMessages.ts';
import type { JobState } from './jobState.ts';
import { newJobEvent } from './newJobEvent.ts';

const TERMINAL_EVENTS: readonly EventType[] = ['job_completed', 'job_failed', 'job_canceled'];

export function isTerminalEvent(event: NewJobEvent): boolean {
  return TERMINAL_EVENTS.includes(event.type);
}

/**
 * The last slot of a stream is kept for a terminal event, so a job at the cap can always still end: a
 * decision fits when it leaves that slot free, or when it ends the job in it.
 */
export function fitsEventCap(eventCount: number, events: readonly NewJobEvent[], max: number): boolean {
  const total = eventCount + events.length;
  const last = events.at(-1);
  return total <= max - 1 || (last !== undefined && isTerminalEvent(last) && total <= max);
}

/** A decision that does not fit becomes the job's failure; a job that cannot even hold that refuses the command. */
export function applyEventCap(
  events: NewJobEvent[],
  command: JobCommand,
  state: JobState,
  options: DecideOptions,
): NewJobEvent[] {
  const max = options.maxEventsPerJob;
  if (fitsEventCap(state.event_count, events, max)) return events;
  const refused =
    events[Math.min(Math.max(max - 1 - state.event_count, 0), events.length - 1)]?.type ?? command.type;
  const reason = `max_events_per_job (${max}) reached`;
  if (state.status === 'none' || state.status === 'failed' || state.event_count + 1 > max)
    throw new DomainRuleError('event_cap_reached', `job has ${state.event_count} events: ${reason}`, {
      max_events_per_job: max,
      event_count: state.event_count,
      refused,
    });
  return [
    newJobEvent(command, 'job_failed', {
      stage: state.current_stage,
      status: 'failed',
      message: jobMessages.eventCap(max, refused, command.type),
      payload: {
        reason,
        code: 'max_events_exceeded',
        refused,
        command: command.type,
        max_events_per_job: max,
        stage: state.current_stage,
      },
    }),
  ];
}
