import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { LaneUse } from '../../domain/commands.ts';
import { InvalidCommandError, isDomainRuleError } from '../../domain/errors.ts';
import { assertExpectedSeq } from '../../infra/eventstore/jobCommandHandler.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { forbidden, HttpError } from '../errors.ts';
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
  reportedPayload,
  resumeBody,
  startBody,
} from '../schemas.ts';
import { answerCommand, commandResponses, conditional, expectedSeq, runCommand } from './jobCommand.ts';
import { jobAfter } from './jobView.ts';

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

/** The commands on a job's life: create, start, cancel, resume, and the gate decisions. */
export function jobCommandRoutes(deps: ApiDeps): AnyRoute[] {
  /** 202: the job waits first in the queue for a free lane. */
  const queuedAnswer = async (ctx: Context, jobId: string) => {
    const state = await deps.commands.load(jobId);
    ctx.status = 202;
    ctx.body = { job: await jobAfter(deps, jobId, state, null), events: [] };
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
          ctx.body = {
            job: await jobAfter(deps, jobId, result.state, result.position),
            events: result.events,
          };
        } catch (error) {
          if (!(isDomainRuleError(error) && error.code === 'job_exists')) throw error;
          const state = await deps.commands.load(jobId);
          ctx.status = 200;
          ctx.body = { job: await jobAfter(deps, jobId, state, null), events: [] };
        }
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
        // Parsed first: a malformed If-Match is a 400 whichever way the job is started.
        const expected = expectedSeq(ctx);
        if (body.force) {
          if (principal.role !== 'admin')
            throw forbidden('force (running a job beyond pipeline.lanes) needs an admin token');
          const lanes = laneUse(deps);
          return runCommand(deps, ctx, params.id, (actor, ts) => ({
            type: 'start_job',
            actor,
            ts,
            force: true,
            lanes,
          }));
        }
        if (deps.queue?.requestStart) {
          // The runner starts it (a free lane) or queues it first, in one of its steps: no race with its lanes.
          const outcome = await deps.queue.requestStart(params.id, principal.name, expected);
          if (outcome === 'queued') return queuedAnswer(ctx, params.id);
          if (outcome !== 'not_queued') return answerCommand(deps, ctx, params.id, outcome);
        } else {
          const lanes = laneUse(deps);
          const state = await deps.commands.load(params.id);
          if (lanes.occupied >= lanes.limit && state.status === 'queued') {
            assertExpectedSeq(params.id, state, expected);
            await recordQueueFront(deps, params.id, principal.name);
            return queuedAnswer(ctx, params.id);
          }
        }
        // A free lane, or not a queued job: the decider starts it or says why not.
        return runCommand(deps, ctx, params.id, (actor, ts) => ({ type: 'start_job', actor, ts }));
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
        runCommand(deps, ctx, params.id, (actor, ts) => ({
          type: 'cancel_job',
          actor,
          ts,
          reason: body.reason,
        })),
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
        if (body.force && principal.role !== 'admin')
          throw forbidden('force (running a job beyond pipeline.lanes) needs an admin token');
        const noFreeLane = (lanes: LaneUse) =>
          new HttpError(
            'no_free_lane',
            `all ${lanes.limit} lane(s) are taken (pipeline.lanes): resume when one frees, or force it with an admin token`,
            'conflict',
            lanes,
          );
        const resume = (lanes?: LaneUse) => (actor: string, ts: string) =>
          ({
            type: 'resume_job',
            actor,
            ts,
            reason: body.reason,
            ...(lanes ? { force: true, lanes } : {}),
          }) as const;
        if (body.force) return runCommand(deps, ctx, params.id, resume(laneUse(deps)));
        if (deps.queue?.requestResume) {
          // The runner checks the lanes and resumes in one of its steps: two resumes never share a lane.
          const command = resume()(principal.name, deps.clock().toISOString());
          const outcome = await deps.queue.requestResume(params.id, command, expectedSeq(ctx));
          if ('noFreeLane' in outcome) throw noFreeLane(outcome.noFreeLane);
          return answerCommand(deps, ctx, params.id, outcome);
        }
        // No runner here (a standby): the lanes as the read model sees them; only a failed job is held to
        // them, so an unknown or running job gets the decider's answer.
        const lanes = laneUse(deps);
        if (lanes.occupied >= lanes.limit && (await deps.commands.load(params.id)).status === 'failed')
          throw noFreeLane(lanes);
        return runCommand(deps, ctx, params.id, resume());
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
          runCommand(deps, ctx, params.id, (actor, ts) => ({
            type: decision === 'approve' ? 'approve_gate' : 'reject_gate',
            gate: params.gate,
            comment: body.comment,
            payload: reportedPayload(body),
            actor,
            ts,
          })),
      }),
    ),
  ];
}
