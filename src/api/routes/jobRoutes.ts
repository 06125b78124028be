import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { JobCommand } from '../../domain/commands.ts';
import { InvalidCommandError, isDomainRuleError } from '../../domain/errors.ts';
import type { JobState } from '../../domain/jobState.ts';
import type { ApiDeps, JobSummary } from '../apiDeps.ts';
import { badRequest, forbidden, HttpError, notFound } from '../errors.ts';
import { laneUse, recordQueueFront } from '../laneUse.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import {
  cancelBody,
  commandResultSchema,
  createJobBody,
  gateDecisionBody,
  gateParams,
  jobIdParams,
  jobListSchema,
  jobSummarySchema,
  listJobsQuery,
  reportedPayload,
  resumeBody,
  stageCompleteBody,
  stageFailBody,
  stageParams,
  stageStartBody,
  startBody,
} from '../schemas.ts';

/** A time-sortable job id: `j_` + 10 chars of milliseconds + 12 random chars (Crockford base32). */
export function newJobId(now: Date): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = now.getTime();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = alphabet[time % 32] + head;
    time = Math.floor(time / 32);
  }
  const tail = [...randomBytes(12)].map((b) => alphabet[b % 32]).join('');
  return `j_${head}${tail}`;
}

export function summaryFromState(state: JobState): JobSummary {
  return {
    job_id: state.job_id ?? '',
    pipeline: state.pipeline?.name ?? null,
    status: state.status === 'none' ? 'queued' : state.status,
    current_stage: state.current_stage,
    paused_gate: state.paused_gate,
    seq: state.seq,
    created_at: state.created_at,
    updated_at: state.updated_at,
    finished_at: state.finished_at,
    reason: state.reason,
  };
}

/** `If-Match: 3` or `If-Match: "3"` makes a command conditional on the job's seq. */
function expectedSeq(ctx: Context): number | undefined {
  const header = ctx.get('if-match');
  if (!header) return undefined;
  const match = /^\s*(?:W\/)?"?(-?\d+)"?\s*$/.exec(header);
  if (!match) throw badRequest('If-Match must be the job seq, e.g. If-Match: "3"');
  return Number(match[1]);
}

export function jobRoutes(deps: ApiDeps): AnyRoute[] {
  const withQueue = (job: JobSummary): JobSummary => ({
    ...job,
    ...(deps.queue?.queueInfo(job.job_id) ?? {}),
  });

  const jobView = async (jobId: string, state: JobState, position: string | null): Promise<JobSummary> => {
    if (position !== null) await deps.projections.waitForPosition(position, 2000);
    const row = deps.readModel.getJob(jobId);
    return withQueue(row && row.seq >= state.seq ? row : summaryFromState(state));
  };

  /** Runs one command and answers with the job and the events it appended. */
  const command = async (ctx: Context, jobId: string, build: (actor: string, ts: string) => JobCommand) => {
    const actor = (ctx.state.principal as { name: string }).name;
    const result = await deps.commands.handle(jobId, build(actor, deps.clock().toISOString()), {
      expectedSeq: expectedSeq(ctx),
    });
    ctx.body = `{"job":${JSON.stringify(await jobView(jobId, result.state, result.position))},"events":${JSON.stringify(result.events)}}`;
    ctx.type = 'application/json';
  };

  /** 202: the job waits first in the queue for a free lane. */
  const queuedAnswer = async (ctx: Context, jobId: string) => {
    const state = await deps.commands.load(jobId);
    ctx.status = 202;
    ctx.body = { job: await jobView(jobId, state, null), events: [] };
  };

  const conditional = { 'If-Match': 'the job seq the client last saw; 409 when the job has moved on' };
  const commandResponses = {
    200: { description: 'the job and the events appended', schema: commandResultSchema },
  };

  return [
    route({
      method: 'post',
      path: '/jobs',
      tag: 'jobs',
      summary: 'create a job (idempotent with a client id)',
      role: 'operator',
      body: createJobBody,
      responses: {
        201: { description: 'created', schema: commandResultSchema },
        200: {
          description: 'a job with this id exists already: returned as it is',
          schema: commandResultSchema,
        },
        ...errorResponses(400, 401, 403, 409, 413, 422),
      },
      handler: async (ctx, { body, principal }) => {
        const name = body.pipeline ?? deps.config.pipeline.default;
        const pipeline = name ? deps.pipeline(name) : undefined;
        if (!pipeline) {
          throw new InvalidCommandError(
            'unknown_pipeline',
            name ? `unknown pipeline ${name}` : 'pipeline is required',
            {
              known: Object.keys(deps.config.pipelines),
            },
          );
        }
        const jobId = body.id ?? newJobId(deps.clock());
        try {
          const result = await deps.commands.handle(jobId, {
            type: 'create_job',
            job_id: jobId,
            pipeline,
            params: body.params,
            actor: principal.name,
            ts: deps.clock().toISOString(),
          });
          ctx.status = 201;
          ctx.set('Location', `/api/v1/jobs/${jobId}`);
          ctx.body = { job: await jobView(jobId, result.state, result.position), events: result.events };
        } catch (error) {
          if (!(isDomainRuleError(error) && error.code === 'job_exists')) throw error;
          const state = await deps.commands.load(jobId);
          ctx.status = 200;
          ctx.body = { job: await jobView(jobId, state, null), events: [] };
        }
      },
    }),
    route({
      method: 'get',
      path: '/jobs',
      tag: 'jobs',
      summary: 'list jobs, newest first',
      role: 'viewer',
      query: listJobsQuery,
      responses: {
        200: { description: 'a page of jobs', schema: jobListSchema },
        ...errorResponses(400, 401),
      },
      handler: (ctx, { query }) => {
        const page = deps.readModel.listJobs({
          status: query.status,
          limit: query.limit ?? 50,
          cursor: query.cursor,
        });
        // Rows leave out `params` (up to the payload limit each): a page of 1000 jobs stays small, and the
        // job view (`GET /jobs/{id}`) still has them.
        const rows = page.jobs.map(({ params: _params, ...row }) => withQueue(row as JobSummary));
        ctx.body = { jobs: rows, next_cursor: page.next_cursor };
      },
    }),
    route({
      method: 'get',
      path: '/jobs/{id}',
      tag: 'jobs',
      summary: 'one job from the read model, with its seq as ETag',
      role: 'viewer',
      params: jobIdParams,
      responses: {
        200: { description: 'the job', schema: jobSummarySchema },
        ...errorResponses(400, 401, 404),
      },
      handler: (ctx, { params }) => {
        const job = deps.readModel.getJob(params.id);
        if (!job) throw notFound(`job ${params.id} not found`);
        ctx.set('ETag', `"${job.seq}"`);
        ctx.body = withQueue(job);
      },
    }),
    route({
      method: 'post',
      path: '/jobs/{id}/start',
      tag: 'commands',
      summary:
        'start a queued job: now when a lane is free, else it goes to the front of the queue (202); force (admin) runs it beyond pipeline.lanes',
      role: 'operator',
      params: jobIdParams,
      body: startBody,
      headers: conditional,
      responses: {
        ...commandResponses,
        202: { description: 'no free lane: the job is first in the queue', schema: commandResultSchema },
        ...errorResponses(400, 401, 403, 404, 409),
      },
      handler: async (ctx, { params, body, principal }) => {
        if (body.force) {
          if (principal.role !== 'admin')
            throw forbidden('force (running a job beyond pipeline.lanes) needs an admin token');
          const lanes = laneUse(deps);
          return command(ctx, params.id, (actor, ts) => ({
            type: 'start_job',
            actor,
            ts,
            force: true,
            lanes,
          }));
        }
        if (deps.queue?.requestStart) {
          // The runner starts it (a free lane) or queues it first, in one of its steps: no race with its lanes.
          const outcome = await deps.queue.requestStart(params.id, principal.name);
          if (outcome === 'queued') return queuedAnswer(ctx, params.id);
          if (outcome !== 'not_queued') {
            ctx.body = `{"job":${JSON.stringify(await jobView(params.id, outcome.state, outcome.position))},"events":${JSON.stringify(outcome.events)}}`;
            ctx.type = 'application/json';
            return;
          }
        } else {
          const lanes = laneUse(deps);
          if (lanes.occupied >= lanes.limit && (await deps.commands.load(params.id)).status === 'queued') {
            await recordQueueFront(deps, params.id, principal.name);
            return queuedAnswer(ctx, params.id);
          }
        }
        // A free lane, or not a queued job: the decider starts it or says why not.
        return command(ctx, params.id, (actor, ts) => ({ type: 'start_job', actor, ts }));
      },
    }),
    route({
      method: 'post',
      path: '/jobs/{id}/cancel',
      tag: 'commands',
      summary: 'cancel a job in any non-terminal state (a running stage is killed)',
      role: 'operator',
      params: jobIdParams,
      body: cancelBody,
      headers: conditional,
      responses: { ...commandResponses, ...errorResponses(400, 401, 403, 404, 409) },
      handler: (ctx, { params, body }) =>
        command(ctx, params.id, (actor, ts) => ({ type: 'cancel_job', actor, ts, reason: body.reason })),
    }),
    route({
      method: 'post',
      path: '/jobs/{id}/resume',
      tag: 'commands',
      summary: 'restart a failed job from its failed stage',
      role: 'operator',
      params: jobIdParams,
      body: resumeBody,
      headers: conditional,
      responses: { ...commandResponses, ...errorResponses(400, 401, 403, 404, 409) },
      handler: async (ctx, { params, body, principal }) => {
        // A resumed job runs at once, so it needs a free lane, or an admin's force.
        const lanes = laneUse(deps);
        if (body.force && principal.role !== 'admin')
          throw forbidden('force (running a job beyond pipeline.lanes) needs an admin token');
        if (!body.force && lanes.occupied >= lanes.limit)
          throw new HttpError(
            'no_free_lane',
            `all ${lanes.limit} lane(s) are taken (pipeline.lanes): resume when one frees, or force it with an admin token`,
            409,
            lanes,
          );
        return command(ctx, params.id, (actor, ts) => ({
          type: 'resume_job',
          actor,
          ts,
          reason: body.reason,
          ...(body.force ? { force: true, lanes } : {}),
        }));
      },
    }),
    ...(['approve', 'reject'] as const).map((decision) =>
      route({
        method: 'post',
        path: `/jobs/{id}/gates/{gate}/${decision}`,
        tag: 'gates',
        summary: `${decision} the gate the job is paused at`,
        role: 'operator',
        params: gateParams,
        body: gateDecisionBody(decision === 'approve' ? 'gate_approved' : 'gate_rejected'),
        headers: conditional,
        responses: { ...commandResponses, ...errorResponses(400, 401, 403, 404, 409, 422) },
        handler: (ctx, { params, body }) =>
          command(ctx, params.id, (actor, ts) => ({
            type: decision === 'approve' ? 'approve_gate' : 'reject_gate',
            gate: params.gate,
            comment: body.comment,
            payload: reportedPayload(body),
            actor,
            ts,
          })),
      }),
    ),
    route({
      method: 'post',
      path: '/jobs/{id}/stages/{stage}/start',
      tag: 'workers',
      summary: 'an external worker starts the next stage',
      role: 'operator',
      params: stageParams,
      body: stageStartBody,
      headers: conditional,
      responses: { ...commandResponses, ...errorResponses(400, 401, 403, 404, 409, 422) },
      handler: (ctx, { params, body }) =>
        command(ctx, params.id, (actor, ts) => ({
          type: 'start_stage',
          stage: params.stage,
          worker: true,
          payload: reportedPayload(body),
          actor,
          ts,
        })),
    }),
    route({
      method: 'post',
      path: '/jobs/{id}/stages/{stage}/complete',
      tag: 'workers',
      summary: 'an external worker completes the running stage',
      role: 'operator',
      params: stageParams,
      body: stageCompleteBody,
      headers: conditional,
      responses: { ...commandResponses, ...errorResponses(400, 401, 403, 404, 409, 422) },
      handler: (ctx, { params, body }) =>
        command(ctx, params.id, (actor, ts) => ({
          type: 'complete_stage',
          stage: params.stage,
          worker: true,
          duration_ms: body.duration_ms,
          exit_code: body.exit_code,
          payload: reportedPayload(body),
          actor,
          ts,
        })),
    }),
    route({
      method: 'post',
      path: '/jobs/{id}/stages/{stage}/fail',
      tag: 'workers',
      summary: 'an external worker reports the running stage failed (retried per policy)',
      role: 'operator',
      params: stageParams,
      body: stageFailBody,
      headers: conditional,
      responses: { ...commandResponses, ...errorResponses(400, 401, 403, 404, 409, 422) },
      handler: (ctx, { params, body }) =>
        command(ctx, params.id, (actor, ts) => ({
          type: 'fail_stage',
          stage: params.stage,
          worker: true,
          reason: body.reason,
          retryable: body.retryable,
          payload: reportedPayload(body),
          actor,
          ts,
        })),
    }),
  ];
}
