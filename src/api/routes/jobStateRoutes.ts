import { z } from 'zod';
import { JOB_STATUSES } from '../../domain/events.ts';
import type { JobState } from '../../domain/jobState.ts';
import { GATE_TIMEOUT_POLICIES, pipelineDefinitionSchema } from '../../domain/pipeline.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { notFound } from '../errors.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import { jobIdParams } from '../schemas.ts';

const time = z.string().nullable();

const stageStateSchema = z.object({
  name: z.string(),
  status: z.enum(['pending', 'running', 'completed', 'failed']),
  attempts: z.number().int().nonnegative(),
  started_at: time,
  finished_at: time,
  duration_ms: z.number().nullable(),
  last_error: z.string().nullable(),
  retry_at: z
    .string()
    .optional()
    .describe(
      "when a failed stage's next attempt may start (its `retry_delay` after the failure); only while it waits",
    ),
});

const gateStateSchema = z.object({
  name: z.string(),
  stage: z.string(),
  status: z.enum(['pending', 'paused', 'approved', 'rejected', 'auto_approved']),
  paused_at: time,
  deadline: time,
  on_timeout: z.enum(GATE_TIMEOUT_POLICIES),
  decided_by: z.string().nullable(),
  decided_at: time,
  comment: z.string().nullable(),
  by_timer: z.boolean(),
});

/** `JobState` as the answer documents it; the check below keeps the two one shape. */
export const jobStateSchema = z.object({
  job_id: z.string().nullable(),
  status: z.enum([...JOB_STATUSES, 'none']),
  pipeline: pipelineDefinitionSchema.nullable(),
  params: z.record(z.string(), z.unknown()),
  stages: z.array(stageStateSchema),
  gates: z.record(z.string(), gateStateSchema),
  current_stage: z.string().nullable(),
  paused_gate: z.string().nullable(),
  seq: z.number().int(),
  event_count: z.number().int().nonnegative(),
  created_at: time,
  started_at: time,
  updated_at: time,
  finished_at: time,
  reason: z.string().nullable(),
  failure_code: z.string().nullable().optional(),
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<z.output<typeof jobStateSchema>, JobState> = true;
void sameShape;

/**
 * `GET /jobs/{id}/state`: the job as the decider sees it, folded from its events in the store. The UI draws
 * its stages and gates from this answer rather than folding events itself.
 */
export function jobStateRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/jobs/{id}/state',
      tag: 'jobs',
      summary:
        "the job's folded state (stages, gates, current stage) as the decider has it, with its seq as ETag",
      role: 'viewer',
      params: jobIdParams,
      responses: {
        200: { description: 'the folded state', schema: jobStateSchema },
        ...errorResponses(400, 401, 404),
      },
      handler: async (ctx, { params }) => {
        const state = await deps.commands.load(params.id);
        if (state.status === 'none') throw notFound(`job ${params.id} not found`);
        ctx.set('ETag', `"${state.seq}"`);
        ctx.body = state;
      },
    }),
  ];
}
