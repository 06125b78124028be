import { z } from 'zod';
import type { EventType } from '../domain/events.ts';
import {
  EVENT_TYPES,
  JOB_ID_PATTERN,
  JOB_ID_RULE,
  JOB_STATUSES,
  jobEventSchema,
  NAME_STYLES,
  withEventAliases,
} from '../domain/events.ts';
import { jobListRowSchema, jobSummarySchema } from '../projections/jobSummary.ts';
import { namesRealTime } from '../projections/timestamps.ts';

const idParam = z.string().regex(JOB_ID_PATTERN, JOB_ID_RULE);

export const jobIdParams = z.object({ id: idParam });
export const gateParams = z.object({ id: idParam, gate: idParam });
export const stageParams = z.object({ id: idParam, stage: idParam });

const intFromQuery = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const createJobBody = z.strictObject({
  pipeline: z.string().regex(JOB_ID_PATTERN, 'unknown pipeline name').optional(),
  params: z.record(z.string(), z.unknown()).default({}),
  id: idParam.optional(),
});

/**
 * A time as people and tools write it: an ISO date-time with an offset, a naive one (read as UTC, what
 * Python's `isoformat()` gives), or a date (its midnight UTC). Always yields an ISO date-time with `Z`.
 */
export const forgivingTime = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    const text = value.trim();
    const naive = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$/.test(text);
    const zoned = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$/.test(text);
    const time =
      naive && text.length === 10
        ? Date.parse(`${text}T00:00:00Z`)
        : naive
          ? Date.parse(`${text}Z`)
          : zoned
            ? Date.parse(text)
            : Number.NaN;
    if (Number.isNaN(time) || !namesRealTime(text)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be an ISO date-time (2026-11-24T10:00:00Z; without an offset it is UTC) or a date',
      });
      return z.NEVER;
    }
    return new Date(time).toISOString();
  });

/** `since`: a forgiving time. */
export const sinceQuery = forgivingTime.meta({
  description: 'ISO date-time (with an offset; a naive one is UTC) or a date (midnight UTC)',
  examples: ['2026-11-24T10:00:00Z', '2026-11-24T10:00:00', '2026-11-24'],
});

/**
 * The event-like fields a worker or a reviewer may send with a command, in the seed's model: `message`, `ts`
 * (alias `timestamp`: the sender's own clock), `type` (alias `event_type`: must name the event the route
 * appends) and `payload` (alias `metadata`). The event's own `ts` is always the server's; the sender's is
 * kept in the payload as `reported_ts`, its message as `message`.
 */
const eventFields = (type: EventType) => ({
  message: z.string().max(4000).optional(),
  ts: forgivingTime.optional(),
  type: z.literal(type, { error: `this route appends a ${type} event` }).optional(),
  payload: z.record(z.string(), z.unknown()).optional(),
});

/** The payload a command carries: the body's payload, plus its message and reported time when sent. */
export function reportedPayload(body: {
  payload?: Record<string, unknown> | undefined;
  message?: string | undefined;
  ts?: string | undefined;
}): Record<string, unknown> | undefined {
  if (body.message === undefined && body.ts === undefined) return body.payload;
  return {
    ...body.payload,
    ...(body.message === undefined ? {} : { message: body.message }),
    ...(body.ts === undefined ? {} : { reported_ts: body.ts }),
  };
}

export const gateDecisionBody = (type: 'gate_approved' | 'gate_rejected') =>
  withEventAliases(z.strictObject({ comment: z.string().max(4000).optional(), ...eventFields(type) }));
export const cancelBody = z.strictObject({ reason: z.string().max(4000).optional() });
/** `force`: an admin runs the job beyond `pipeline.lanes` (recorded in the event's actor and payload). */
export const startBody = z.strictObject({ force: z.boolean().optional() });
export const resumeBody = z.strictObject({
  reason: z.string().max(4000).optional(),
  force: z.boolean().optional(),
});
export const stageStartBody = withEventAliases(z.strictObject(eventFields('stage_started')));
export const stageCompleteBody = withEventAliases(
  z.strictObject({
    duration_ms: z.number().int().nonnegative().optional(),
    exit_code: z.number().int().optional(),
    ...eventFields('stage_completed'),
  }),
);
export const stageFailBody = withEventAliases(
  z.strictObject({
    reason: z.string().min(1).max(4000),
    retryable: z.boolean().optional(),
    ...eventFields('stage_failed'),
  }),
);

/** `names=alias`: events rendered with `timestamp`, `event_type`, `metadata` (the seed's names). */
const namesQuery = z.enum(NAME_STYLES).optional();
/** `frames=named`: each event frame also carries `event: <type>` (for `addEventListener(type)` clients). */
const framesQuery = z.enum(['data', 'named']).optional();

/** The most events one page returns; a larger `limit` is clamped to it (the answer says so). */
export const MAX_PAGE = 1000;
/** `limit` as a positive integer; anything above `MAX_PAGE` is clamped, not refused. */
const pageLimit = z
  .string()
  .regex(/^\d+$/, 'must be a positive integer')
  .transform(Number)
  .pipe(z.number().int().min(1))
  .transform((n) => Math.min(n, MAX_PAGE));

export const listJobsQuery = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  limit: intFromQuery(1, 1000).optional(),
  cursor: z.string().max(200).optional(),
});

/** A per-job resume point: a seq, or -1 for "from the start". `after` and `Last-Event-ID` share it. */
export const seqCursor = intFromQuery(-1, Number.MAX_SAFE_INTEGER);
const MAX_POSITION = 2n ** 64n - 1n;
/** A global resume point: a store position (a decimal uint64), or -1. `after` and `Last-Event-ID` share it. */
export const positionCursor = z
  .string()
  .regex(/^(\d{1,20}|-1)$/, 'a position (decimal string) or -1')
  // zod runs every check even after the regex failed: only a digit string may reach BigInt.
  .refine((v) => !/^\d{1,20}$/.test(v) || BigInt(v) <= MAX_POSITION, 'a position is at most 2^64 - 1');

export const jobEventsQuery = z.object({
  since: sinceQuery.optional(),
  after: intFromQuery(-1, Number.MAX_SAFE_INTEGER).optional(),
  limit: pageLimit.optional(),
  wait: intFromQuery(0, 30).optional(),
  names: namesQuery,
});

export const globalEventsQuery = z.object({
  after: positionCursor.optional(),
  limit: pageLimit.optional(),
  wait: intFromQuery(0, 30).optional(),
  job: idParam.optional(),
  type: z.enum(EVENT_TYPES).optional(),
  names: namesQuery,
});

export const jobStreamQuery = z.object({
  after: seqCursor.optional(),
  since: sinceQuery.optional(),
  names: namesQuery,
  frames: framesQuery,
  access_token: z.string().optional(),
});

export const allStreamQuery = z.object({
  after: positionCursor.optional(),
  since: sinceQuery.optional(),
  type: z.string().max(1000).optional(),
  job: idParam.optional(),
  names: namesQuery,
  frames: framesQuery,
  access_token: z.string().optional(),
});

export const jobListSchema = z.object({
  jobs: z.array(jobListRowSchema),
  next_cursor: z.string().nullable(),
});
export const jobEventsPageSchema = z.object({
  job_id: z.string(),
  events: z.array(jobEventSchema),
  next_after: z.number().int().nullable(),
  head: z.number().int(),
  limit: z.number().int().describe('the page size used: the limit asked for, clamped to the maximum'),
});
export const globalEventsPageSchema = z.object({
  events: z.array(jobEventSchema),
  next_after: z.string().nullable(),
  limit: z.number().int().describe('the page size used: the limit asked for, clamped to the maximum'),
});
export const commandResultSchema = z.object({ job: jobSummarySchema, events: z.array(jobEventSchema) });
export const healthSchema = z.object({ status: z.string() }).loose();
