import { z } from 'zod';

/** The 13 event types that are stored. `heartbeat` exists only on the SSE wire. */
export const EVENT_TYPES = [
  'job_created',
  'job_started',
  'stage_started',
  'stage_completed',
  'stage_failed',
  'gate_pause',
  'gate_approved',
  'gate_rejected',
  'gate_auto_approved',
  'job_completed',
  'job_failed',
  'job_canceled',
  'job_resumed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export const eventTypeSchema = z.enum(EVENT_TYPES);

export const JOB_STATUSES = ['queued', 'running', 'paused', 'completed', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const jobStatusSchema = z.enum(JOB_STATUSES);
export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'canceled'];

/**
 * Ids and names a client or a config may introduce (job ids, pipeline, stage and gate names): they end up in
 * paths and in arguments of scripts, so they start with a letter or digit and never read as an option
 * (`--help`) or a hidden file.
 */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const JOB_ID_RULE = `must match ${JOB_ID_PATTERN.source} (a letter or digit first)`;
/** What stored events and run directories may hold: the looser rule of earlier versions, still path-safe. */
export const STORED_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const jobIdSchema = z
  .string()
  .regex(STORED_NAME_PATTERN, `job id must match ${STORED_NAME_PATTERN.source}`);
/** A stored stage or gate name (file names too, so the same rule as stored job ids). */
export const nameSchema = z
  .string()
  .regex(STORED_NAME_PATTERN, `name must match ${STORED_NAME_PATTERN.source}`);
/** A name a config introduces now. */
export const newNameSchema = z.string().regex(JOB_ID_PATTERN, `name ${JOB_ID_RULE}`);

export const payloadSchema = z.record(z.string(), z.unknown());
export type Payload = z.infer<typeof payloadSchema>;

/** What a decision produces: an event before the store gives it an id, a seq and a position. */
export const newJobEventSchema = z.object({
  type: eventTypeSchema,
  ts: z.iso.datetime(),
  stage: nameSchema.nullable(),
  status: jobStatusSchema,
  message: z.string(),
  payload: payloadSchema,
  actor: z.string().min(1),
});
export type NewJobEvent = z.infer<typeof newJobEventSchema>;

/** The event as every reader sees it (API, SSE `data:`, JSONL line). */
export const jobEventSchema = newJobEventSchema.extend({
  id: z.string().min(1),
  job_id: jobIdSchema,
  seq: z.number().int().nonnegative(),
  position: z.string().regex(/^\d+$/, 'position is a decimal string'),
});
export type JobEvent = z.infer<typeof jobEventSchema>;

/** Field order of the canonical wire shape; serialisers follow it so every reader gets the same bytes. */
export const CANONICAL_FIELDS = [
  'id',
  'job_id',
  'seq',
  'position',
  'ts',
  'type',
  'stage',
  'status',
  'message',
  'payload',
  'actor',
] as const satisfies readonly (keyof JobEvent)[];

/**
 * Input side: accepts the aliases `timestamp`, `event_type` and `metadata` for `ts`, `type` and `payload`,
 * and yields the canonical shape.
 */
export const jobEventInputSchema = z
  .object({
    id: z.string().min(1),
    job_id: jobIdSchema,
    seq: z.number().int().nonnegative(),
    position: z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).transform(String),
    ts: z.iso.datetime().optional(),
    timestamp: z.iso.datetime().optional(),
    type: eventTypeSchema.optional(),
    event_type: eventTypeSchema.optional(),
    stage: nameSchema.nullable().optional(),
    status: jobStatusSchema,
    message: z.string().default(''),
    payload: payloadSchema.optional(),
    metadata: payloadSchema.optional(),
    actor: z.string().min(1),
  })
  .superRefine((v, ctx) => {
    if (!v.ts && !v.timestamp)
      ctx.addIssue({ code: 'custom', path: ['ts'], message: 'ts (or timestamp) is required' });
    if (!v.type && !v.event_type)
      ctx.addIssue({ code: 'custom', path: ['type'], message: 'type (or event_type) is required' });
  })
  .transform(
    (v): JobEvent => ({
      id: v.id,
      job_id: v.job_id,
      seq: v.seq,
      position: v.position,
      ts: (v.ts ?? v.timestamp) as string,
      type: (v.type ?? v.event_type) as EventType,
      stage: v.stage ?? null,
      status: v.status,
      message: v.message,
      payload: v.payload ?? v.metadata ?? {},
      actor: v.actor,
    }),
  );

/** Serialises an event in canonical field order: one call per event, shared by every reader. */
export function toCanonicalJson(event: JobEvent): string {
  const ordered: Record<string, unknown> = {};
  for (const field of CANONICAL_FIELDS) ordered[field] = event[field];
  return JSON.stringify(ordered);
}

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
