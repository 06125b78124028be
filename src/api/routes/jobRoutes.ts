import { jobSummarySchema } from '../../projections/index.ts';
import type { ApiDeps } from '../apiDeps.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import { jobIdParams, jobListSchema, listJobsQuery } from '../schemas.ts';
import { jobCommandRoutes } from './jobCommandRoutes.ts';
import { jobNotYetProjected, withQueue } from './jobView.ts';
import { workerRoutes } from './workerRoutes.ts';

/** The job routes: reads from the read model here, then the commands and the workers' stage reports. */
export function jobRoutes(deps: ApiDeps): AnyRoute[] {
  return [
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
        const rows = page.jobs.map(({ params: _params, ...row }) => withQueue(deps, row));
        ctx.body = { jobs: rows, next_cursor: page.next_cursor };
      },
    }),
    route({
      method: 'get',
      path: '/jobs/{id}',
      tag: 'jobs',
      summary:
        'one job from the read model (a job it does not have yet is waited for, then folded from the store), with its seq as ETag',
      role: 'viewer',
      params: jobIdParams,
      responses: {
        200: { description: 'the job', schema: jobSummarySchema },
        ...errorResponses(400, 401, 404),
      },
      handler: async (ctx, { params }) => {
        const row = deps.readModel.getJob(params.id);
        const job = row ? withQueue(deps, row) : await jobNotYetProjected(deps, params.id);
        ctx.set('ETag', `"${job.seq}"`);
        ctx.body = job;
      },
    }),
    ...jobCommandRoutes(deps),
    ...workerRoutes(deps),
  ];
}
