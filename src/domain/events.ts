import { z } from 'zod';
import type { AliasedField, JobStatus } from './eventNames.ts';
import { EVENT_ALIASES, EVENT_TYPES, JOB_ID_PATTERN, JOB_STATUSES } from './eventNames.ts';

export type { AliasedField, EventType, JobStatus, NameStyle } from './eventNames.ts';
export {
  EVENT_ALIASES,
  EVENT_TYPES,
  JOB_ID_PATTERN,
  JOB_STATUSES,
  NAME_STYLES,
  renderEventJson,
  toAliasJson,
} from './eventNames.ts';

export const eventTypeSchema = z.enum(EVENT_TYPES);

export const jobStatusSchema = z.enum(JOB_STATUSES);
export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'canceled'];

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

const ALIAS_PAIRS = Object.entries(EVENT_ALIASES) as [AliasedField, (typeof EVENT_ALIASES)[AliasedField]][];

/**
 * Folds the alias names of an input object into the canonical ones, so one schema validates both spellings.
 * Sending both names of a field with different values is an issue on the alias (the client must pick one);
 * the same value under both names is accepted.
 */
export function withEventAliases<S extends z.ZodType>(schema: S) {
  return z.preprocess((value, ctx) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const input = value as Record<string, unknown>;
    if (!ALIAS_PAIRS.some(([, alias]) => alias in input)) return value;
    const out: Record<string, unknown> = { ...input };
    for (const [canonical, alias] of ALIAS_PAIRS) {
      if (!(alias in input)) continue;
      if (canonical in input && JSON.stringify(input[canonical]) !== JSON.stringify(input[alias])) {
        ctx.addIssue({
          code: 'custom',
          path: [alias],
          message: `${alias} and ${canonical} are the same field with different values: send one of them`,
        });
        continue;
      }
      out[canonical] = input[alias];
      delete out[alias];
    }
    return out;
  }, schema);
}

/** Input side of a whole event (imports, seed-style producers): either spelling, the canonical shape out. */
export const jobEventInputSchema = withEventAliases(
  jobEventSchema.extend({
    position: z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).transform(String),
    stage: nameSchema.nullable().default(null),
    message: z.string().default(''),
    payload: payloadSchema.default({}),
  }),
).transform((v): JobEvent => {
  const ordered: Record<string, unknown> = {};
  for (const field of CANONICAL_FIELDS) ordered[field] = v[field];
  return ordered as JobEvent;
});

/** Field order of the alias wire shape: the canonical order, each aliased field in its place. */
export const ALIAS_FIELDS = CANONICAL_FIELDS.map((f) =>
  Object.hasOwn(EVENT_ALIASES, f) ? EVENT_ALIASES[f as AliasedField] : f,
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
