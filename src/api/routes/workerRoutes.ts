import type { ApiDeps } from '../apiDeps.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import {
  reportedPayload,
  stageCompleteBody,
  stageFailBody,
  stageParams,
  stageStartBody,
} from '../schemas.ts';
import { commandResponses, conditional, runCommand } from './jobCommand.ts';

/** What an external worker reports about the stage it runs: started, completed, failed. */
export function workerRoutes(deps: ApiDeps): AnyRoute[] {
  return [
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
        runCommand(deps, ctx, params.id, (actor, ts) => ({
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
        runCommand(deps, ctx, params.id, (actor, ts) => ({
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
        runCommand(deps, ctx, params.id, (actor, ts) => ({
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
