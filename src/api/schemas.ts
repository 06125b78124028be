import { z } from 'zod';
import { EVENT_TYPES, JOB_ID_PATTERN, JOB_STATUSES, jobEventSchema } from '../domain/events.ts';

const idParam = z.string().regex(JOB_ID_PATTERN, 'must match ^[A-Za-z0-9_-]{1,64}$');

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

export const gateDecisionBody = z.strictObject({ comment: z.string().max(4000).optional() });
export const cancelBody = z.strictObject({ reason: z.string().max(4000).optional() });
export const resumeBody = z.strictObject({ reason: z.string().max(4000).optional() });
export const stageStartBody = z.strictObject({ payload: z.record(z.string(), z.unknown()).optional() });
export const stageCompleteBody = z.strictObject({
  duration_ms: z.number().int().nonnegative().optional(),
  exit_code: z.number().int().optional(),
  payload: z.record(z.string(), z.unknown()).optional(),
});
export const stageFailBody = z.strictObject({
  reason: z.string().min(1).max(4000),
  retryable: z.boolean().optional(),
  payload: z.record(z.string(), z.unknown()).optional(),
});

export const listJobsQuery = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  limit: intFromQuery(1, 1000).optional(),
  cursor: z.string().max(200).optional(),
});

export const jobEventsQuery = z.object({
  since: z.iso.datetime({ offset: true }).optional(),
  after: intFromQuery(-1, Number.MAX_SAFE_INTEGER).optional(),
  limit: intFromQuery(1, 1000).optional(),
  wait: intFromQuery(0, 30).optional(),
});

export const globalEventsQuery = z.object({
  after: z
    .string()
    .regex(/^(\d+|-1)$/, 'a position (decimal string) or -1')
    .optional(),
  limit: intFromQuery(1, 1000).optional(),
  wait: intFromQuery(0, 30).optional(),
  job: idParam.optional(),
  type: z.enum(EVENT_TYPES).optional(),
});

export const jobStreamQuery = z.object({
  after: intFromQuery(-1, Number.MAX_SAFE_INTEGER).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  access_token: z.string().optional(),
});

export const allStreamQuery = z.object({
  after: z
    .string()
    .regex(/^(\d+|-1)$/, 'a position (decimal string) or -1')
    .optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  type: z.string().max(1000).optional(),
  job: idParam.optional(),
  access_token: z.string().optional(),
});

export const jobSummarySchema = z
  .object({
    job_id: z.string(),
    pipeline: z.string().nullable(),
    status: z.enum(JOB_STATUSES),
    current_stage: z.string().nullable(),
    paused_gate: z.string().nullable(),
    seq: z.number().int(),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
  })
  .loose();

export const jobListSchema = z.object({
  jobs: z.array(jobSummarySchema),
  next_cursor: z.string().nullable(),
});
export const jobEventsPageSchema = z.object({
  job_id: z.string(),
  events: z.array(jobEventSchema),
  next_after: z.number().int().nullable(),
  head: z.number().int(),
});
export const globalEventsPageSchema = z.object({
  events: z.array(jobEventSchema),
  next_after: z.string().nullable(),
});
export const commandResultSchema = z.object({ job: jobSummarySchema, events: z.array(jobEventSchema) });
export const healthSchema = z.object({ status: z.string() }).loose();
/** A per-job resume point: a seq, or -1 for "from the start". `after` and `Last-Event-ID` share it. */
export const seqCursor = intFromQuery(-1, Number.MAX_SAFE_INTEGER);
const MAX_POSITION = 2n ** 64n - 1n;
/** A global resume point: a store position (a decimal uint64), or -1. `after` and `Last-Event-ID` share it. */
export const positionCursor = z
  .string()
  .regex(/^(\d{1,20}|-1)$/, 'a position (decimal string) or -1')
  // zod runs every check even after the regex failed: only a digit string may reach BigInt.
  .refine((v) => !/^\d{1,20}$/.test(v) || BigInt(v) <= MAX_POSITION, 'a position is at most 2^64 - 1');

