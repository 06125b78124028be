import type { z } from 'zod';
import { type EventPayload, eventPayloadSchemas } from './eventCatalogue.ts';
import type { EventType, JobEvent } from './events.ts';

/** A payload as a reader gets it: every catalogue field typed, absent when the stored value does not fit. */
export type ReadPayload<T extends EventType> = Partial<EventPayload<T>>;

/**
 * The boundary where a stored payload becomes typed. Field by field, so one odd value (an imported or
 * hand-written event) loses only that field and readers stay total: the same leniency the fold always had.
 * The event's own type is not checked here; callers switch on `event.type` first.
 */
export function payloadOf<T extends EventType>(event: Pick<JobEvent, 'payload'>, type: T): ReadPayload<T> {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of FIELDS[type]) {
    if (!Object.hasOwn(event.payload, key)) continue;
    const parsed = schema.safeParse(event.payload[key]);
    if (parsed.success && parsed.data !== undefined) out[key] = parsed.data;
  }
  return out as ReadPayload<T>;
}

/** Each type's catalogue fields, listed once: the fold asks for them at every event it reads. */
const FIELDS = Object.fromEntries(
  Object.entries(eventPayloadSchemas).map(([type, schema]) => [
    type,
    Object.entries(schema.shape as Record<string, z.ZodType>),
  ]),
) as Record<EventType, [string, z.ZodType][]>;
