import { z } from 'zod';
import { type EventType, jobEventSchema } from './events.ts';
import { GATE_TIMEOUT_POLICIES, type PipelineDefinition, REJECT_POLICIES } from './pipeline.ts';

/*
 * What each of the 13 stored event types carries in `payload`, as the decider writes it today.
 * Payloads are loose objects: stage and gate commands copy the client's own `payload` (e.g. `reported_ts`,
 * `message`, a runner's `pid`, `log`, `log_tail`) into the event, so keys not listed here are kept, never
 * rejected. The envelope around the payload (`id, job_id, seq, position, ts, type, stage, status, message,
 * payload, actor`) is `jobEventSchema` and does not change.
 */

/** The pipeline as the job was created with it (durations already in ms); only `stages` is relied upon. */
const storedPipelineSchema = z.custom<PipelineDefinition>(
  (v) => typeof v === 'object' && v !== null && Array.isArray((v as { stages?: unknown }).stages),
  'a pipeline with a stages array',
);
const msSchema = z.number().nonnegative();
const laneUseSchema = z.object({ limit: z.number().int(), occupied: z.number().int() });

export const eventPayloadSchemas = {
  job_created: z.looseObject({
    /** The pipeline definition the job runs, copied at creation so later config changes do not alter it. */
    pipeline: storedPipelineSchema,
    /** The job's parameters, handed to every stage command as JSON. */
    params: z.record(z.string(), z.unknown()),
  }),
  job_started: z.looseObject({
    /** Optional: who asked for the start when an admin or the queue started it on their behalf. */
    requested_by: z.string().optional(),
    /** Optional: true when an admin started the job beyond `pipeline.lanes`. */
    forced: z.literal(true).optional(),
    /** Optional (with `forced`): the lanes limit and the lanes held when it was overridden, null when unknown. */
    lanes: laneUseSchema.nullable().optional(),
  }),
  stage_started: z.looseObject({
    /** 1-based attempt number of this stage run (resets after a resume or a rerun). */
    attempt: z.number().int().positive(),
    /** How many attempts the stage allows in all (1 + retries). */
    max_attempts: z.number().int().positive(),
    /** True when this attempt follows a failed one. */
    retry: z.boolean(),
  }),
  stage_completed: z.looseObject({
    /** The attempt that completed. */
    attempt: z.number().int().nonnegative(),
    /** Run time reported by the worker, or measured from `stage_started`; null when unknown. */
    duration_ms: msSchema.nullable(),
    /** The command's exit code when the worker reported one, else null. */
    exit_code: z.number().int().nullable(),
  }),
  stage_failed: z.looseObject({
    /** Why the attempt failed, in the worker's words. */
    reason: z.string(),
    /** The attempt that failed. */
    attempt: z.number().int().nonnegative(),
    /** How many attempts the stage allows in all. */
    max_attempts: z.number().int().positive(),
    /** False when the worker said a retry cannot help. */
    retryable: z.boolean(),
    /** True when another attempt will follow (retryable and attempts left); false ends the job. */
    will_retry: z.boolean(),
    /** Run time measured from `stage_started`; null when unknown. */
    duration_ms: msSchema.nullable(),
  }),
  gate_pause: z.looseObject({
    /** The gate the job waits at. */
    gate: z.string(),
    /** When the gate's timeout fires (ISO time), null when the gate has no timeout. */
    deadline: z.string().nullable(),
    /** What the timeout does: approve, reject or keep waiting. */
    on_timeout: z.enum(GATE_TIMEOUT_POLICIES),
    /** The gate's timeout in ms, null when it has none. */
    timeout_ms: msSchema.nullable(),
    /** What a rejection does: fail the job or rerun the stage. */
    on_reject: z.enum(REJECT_POLICIES),
  }),
  gate_approved: z.looseObject({
    /** The gate approved. */
    gate: z.string(),
    /** The approver's comment, null when none was given. */
    comment: z.string().nullable(),
    /** Always false: a person approved (the timer writes `gate_auto_approved`). */
    by_timer: z.boolean(),
  }),
  gate_auto_approved: z.looseObject({
    /** The gate the timer approved. */
    gate: z.string(),
    /** Always true. */
    by_timer: z.boolean(),
    /** The deadline that passed (ISO), null if the gate had none. */
    deadline: z.string().nullable(),
  }),
  gate_rejected: z.looseObject({
    /** The gate rejected. */
    gate: z.string(),
    /** The rejecter's comment, null when none was given. */
    comment: z.string().nullable(),
    /** The rejection's reason, null when none was given. */
    reason: z.string().nullable(),
    /** True when the gate's timeout rejected it. */
    by_timer: z.boolean(),
    /** What follows: `fail` (a `job_failed` event) or `rerun` (a `job_resumed` event). */
    on_reject: z.enum(REJECT_POLICIES),
  }),
  job_completed: z.looseObject({
    /** Number of stages the job ran. */
    stages: z.number().int().nonnegative(),
    /** Time from `job_started` to completion, null when unknown. */
    duration_ms: msSchema.nullable(),
  }),
  job_failed: z.looseObject({
    /** Why the job failed. */
    reason: z.string(),
    /** What failed it: `stage_failed`, `gate_rejected`, `job_failed` (asked for) or `max_events_exceeded`. */
    code: z.string(),
    /** The stage the job was at, null when none was running. */
    stage: z.string().nullable(),
    /** Optional (`stage_failed`): attempts the stage used. */
    attempts: z.number().int().nonnegative().optional(),
    /** Optional (`gate_rejected`): the gate that rejected. */
    gate: z.string().optional(),
    /** Optional (`gate_rejected`): who rejected. */
    by: z.string().optional(),
    /** Optional (`gate_rejected`): the rejecter's comment, null when none. */
    comment: z.string().nullable().optional(),
    /** Optional (`max_events_exceeded`): the first event type that no longer fitted (or the command's type). */
    refused: z.string().optional(),
    /** Optional (`max_events_exceeded`): the refused command's type. */
    command: z.string().optional(),
    /** Optional (`max_events_exceeded`): the cap that was reached. */
    max_events_per_job: z.number().int().optional(),
  }),
  job_canceled: z.looseObject({
    /** Why the job was canceled, null when no reason was given. */
    reason: z.string().nullable(),
    /** The status the job had before. */
    previous_status: z.string(),
    /** The stage the job was at, null when none was running. */
    stage: z.string().nullable(),
  }),
  job_resumed: z.looseObject({
    /** Optional (after a gate): the gate whose approval or rerun rejection resumed the job. */
    after_gate: z.string().optional(),
    /** Optional (rerun rejection): the stage sent back to the start. */
    rerun: z.string().optional(),
    /** Optional (after a failure): the stage the job resumes from. */
    from_stage: z.string().optional(),
    /** Optional (after a failure): the reason given for the resume, null when none. */
    reason: z.string().nullable().optional(),
    /** Optional (after a failure): why the job had failed. */
    previous_reason: z.string().nullable().optional(),
    /** Optional: true when an admin resumed the job beyond `pipeline.lanes`. */
    forced: z.literal(true).optional(),
    /** Optional (with `forced`): the lanes limit and the lanes held when it was overridden, null when unknown. */
    lanes: laneUseSchema.nullable().optional(),
  }),
} as const satisfies Record<EventType, z.ZodType>;

export type EventPayloadSchemas = typeof eventPayloadSchemas;
/** The payload of one event type, as written by the decider. */
export type EventPayload<T extends EventType> = z.infer<EventPayloadSchemas[T]>;

const typedEvent = <T extends EventType>(type: T) =>
  jobEventSchema.extend({ type: z.literal(type), payload: eventPayloadSchemas[type] });

/** A whole stored event, its payload checked against its type's schema. */
export const typedJobEventSchema = z.discriminatedUnion('type', [
  typedEvent('job_created'),
  typedEvent('job_started'),
  typedEvent('stage_started'),
  typedEvent('stage_completed'),
  typedEvent('stage_failed'),
  typedEvent('gate_pause'),
  typedEvent('gate_approved'),
  typedEvent('gate_auto_approved'),
  typedEvent('gate_rejected'),
  typedEvent('job_completed'),
  typedEvent('job_failed'),
  typedEvent('job_canceled'),
  typedEvent('job_resumed'),
]);
export type TypedJobEvent = z.infer<typeof typedJobEventSchema>;
