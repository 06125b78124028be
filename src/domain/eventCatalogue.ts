import { z } from 'zod';
import { type EventType, jobEventSchema } from './events.ts';
import { GATE_TIMEOUT_POLICIES, type PipelineDefinition, REJECT_POLICIES } from './pipeline.ts';

/*
 * What each of the 13 stored event types carries in `payload`, as the decider writes it today.
 * Payloads are loose objects: stage and gate commands copy the client's own `payload` (e.g. `reported_ts`,
 * `message`, a runner's `pid`, `log`, `log_tail`) into the event, so keys not listed here are kept, never
 * rejected. The envelope around the payload (`id, job_id, seq, position, ts, type, stage, status, message,
 * payload, actor`) is `jobEventSchema` and does not change. Each field's `.describe()` is its one-line doc:
 * readers of the catalogue (the UI's served copy, the wire docs) take it from here.
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
    pipeline: storedPipelineSchema.describe(
      'The pipeline definition the job runs, copied at creation so later config changes do not alter it.',
    ),
    params: z
      .record(z.string(), z.unknown())
      .describe("The job's parameters, handed to every stage command as JSON."),
  }),
  job_started: z.looseObject({
    requested_by: z
      .string()
      .optional()
      .describe('Optional: who asked for the start when an admin or the queue started it on their behalf.'),
    forced: z
      .literal(true)
      .optional()
      .describe('Optional: true when an admin started the job beyond `pipeline.lanes`.'),
    lanes: laneUseSchema
      .nullable()
      .optional()
      .describe(
        'Optional (with `forced`): the lanes limit and the lanes held when it was overridden, null when unknown.',
      ),
  }),
  stage_started: z.looseObject({
    attempt: z
      .number()
      .int()
      .positive()
      .describe('1-based attempt number of this stage run (resets after a resume or a rerun).'),
    max_attempts: z
      .number()
      .int()
      .positive()
      .describe('How many attempts the stage allows in all (1 + retries).'),
    retry: z.boolean().describe('True when this attempt follows a failed one.'),
  }),
  stage_completed: z.looseObject({
    attempt: z.number().int().nonnegative().describe('The attempt that completed.'),
    duration_ms: msSchema
      .nullable()
      .describe('Run time reported by the worker, or measured from `stage_started`; null when unknown.'),
    exit_code: z
      .number()
      .int()
      .nullable()
      .describe("The command's exit code when the worker reported one, else null."),
  }),
  stage_failed: z.looseObject({
    reason: z.string().describe("Why the attempt failed, in the worker's words."),
    attempt: z.number().int().nonnegative().describe('The attempt that failed.'),
    max_attempts: z.number().int().positive().describe('How many attempts the stage allows in all.'),
    retryable: z.boolean().describe('False when the worker said a retry cannot help.'),
    will_retry: z
      .boolean()
      .describe('True when another attempt will follow (retryable and attempts left); false ends the job.'),
    duration_ms: msSchema.nullable().describe('Run time measured from `stage_started`; null when unknown.'),
    retry_delay_ms: msSchema
      .optional()
      .describe(
        'Optional: the wait before the next attempt, when one follows and the stage has a `retry_delay`.',
      ),
  }),
  gate_pause: z.looseObject({
    gate: z.string().describe('The gate the job waits at.'),
    deadline: z
      .string()
      .nullable()
      .describe("When the gate's timeout fires (ISO time), null when the gate has no timeout."),
    on_timeout: z
      .enum(GATE_TIMEOUT_POLICIES)
      .describe('What the timeout does: approve, reject or keep waiting.'),
    timeout_ms: msSchema.nullable().describe("The gate's timeout in ms, null when it has none."),
    on_reject: z.enum(REJECT_POLICIES).describe('What a rejection does: fail the job or rerun the stage.'),
  }),
  gate_approved: z.looseObject({
    gate: z.string().describe('The gate approved.'),
    comment: z.string().nullable().describe("The approver's comment, null when none was given."),
    by_timer: z
      .boolean()
      .describe('Always false: a person approved (the timer writes `gate_auto_approved`).'),
  }),
  gate_auto_approved: z.looseObject({
    gate: z.string().describe('The gate the timer approved.'),
    by_timer: z.boolean().describe('Always true.'),
    deadline: z.string().nullable().describe('The deadline that passed (ISO), null if the gate had none.'),
  }),
  gate_rejected: z.looseObject({
    gate: z.string().describe('The gate rejected.'),
    comment: z.string().nullable().describe("The rejecter's comment, null when none was given."),
    reason: z.string().nullable().describe("The rejection's reason, null when none was given."),
    by_timer: z.boolean().describe("True when the gate's timeout rejected it."),
    on_reject: z
      .enum(REJECT_POLICIES)
      .describe('What follows: `fail` (a `job_failed` event) or `rerun` (a `job_resumed` event).'),
  }),
  job_completed: z.looseObject({
    stages: z.number().int().nonnegative().describe('Number of stages the job ran.'),
    duration_ms: msSchema.nullable().describe('Time from `job_started` to completion, null when unknown.'),
  }),
  job_failed: z.looseObject({
    reason: z.string().describe('Why the job failed.'),
    code: z
      .string()
      .describe(
        'What failed it: `stage_failed`, `gate_rejected`, `job_failed` (asked for) or `max_events_exceeded`.',
      ),
    stage: z.string().nullable().describe('The stage the job was at, null when none was running.'),
    attempts: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Optional (`stage_failed`): attempts the stage used.'),
    gate: z.string().optional().describe('Optional (`gate_rejected`): the gate that rejected.'),
    by: z.string().optional().describe('Optional (`gate_rejected`): who rejected.'),
    comment: z
      .string()
      .nullable()
      .optional()
      .describe("Optional (`gate_rejected`): the rejecter's comment, null when none."),
    refused: z
      .string()
      .optional()
      .describe(
        "Optional (`max_events_exceeded`): the first event type that no longer fitted (or the command's type).",
      ),
    command: z.string().optional().describe("Optional (`max_events_exceeded`): the refused command's type."),
    max_events_per_job: z
      .number()
      .int()
      .optional()
      .describe('Optional (`max_events_exceeded`): the cap that was reached.'),
  }),
  job_canceled: z.looseObject({
    reason: z.string().nullable().describe('Why the job was canceled, null when no reason was given.'),
    previous_status: z.string().describe('The status the job had before.'),
    stage: z.string().nullable().describe('The stage the job was at, null when none was running.'),
  }),
  job_resumed: z.looseObject({
    after_gate: z
      .string()
      .optional()
      .describe(
        'Optional (after a gate): the gate whose approval or rerun rejection resumed the job (a rerun also has `from_stage`).',
      ),
    from_stage: z
      .string()
      .optional()
      .describe(
        'Optional (after a failure or a rerun rejection): the stage sent back to the start, which the job resumes from.',
      ),
    reason: z
      .string()
      .nullable()
      .optional()
      .describe('Optional (after a failure): the reason given for the resume, null when none.'),
    previous_reason: z
      .string()
      .nullable()
      .optional()
      .describe('Optional (after a failure): why the job had failed.'),
    forced: z
      .literal(true)
      .optional()
      .describe('Optional: true when an admin resumed the job beyond `pipeline.lanes`.'),
    lanes: laneUseSchema
      .nullable()
      .optional()
      .describe(
        'Optional (with `forced`): the lanes limit and the lanes held when it was overridden, null when unknown.',
      ),
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
