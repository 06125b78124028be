import { z } from 'zod';
import { gateName } from '../../domain/pipeline.ts';
import type { ApiDeps } from '../apiDeps.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';

export const pipelineListSchema = z.object({
  pipelines: z.array(
    z.object({
      name: z.string(),
      description: z.string().nullable(),
      stages: z.array(
        z.object({
          name: z.string(),
          /** The gate's name when the stage ends at a gate. */
          gate: z.string().nullable(),
          /** True when the runner executes the stage; false when an external worker reports it. */
          run: z.boolean(),
        }),
      ),
    }),
  ),
  default: z.string().nullable(),
});
export type PipelineList = z.infer<typeof pipelineListSchema>;

/** The configured pipelines without their commands or environment: enough to pick one and draw its stages. */
export function pipelineRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/pipelines',
      tag: 'pipelines',
      summary: 'the configured pipelines and their stages (commands and env are not shown)',
      role: 'viewer',
      responses: {
        200: { description: 'every configured pipeline', schema: pipelineListSchema },
        ...errorResponses(401),
      },
      handler: (ctx) => {
        const body: PipelineList = {
          pipelines: Object.entries(deps.config.pipelines).map(([name, entry]) => ({
            name,
            description: entry.description ?? null,
            stages: entry.stages.map((s) => ({ name: s.name, gate: gateName(s), run: s.run !== undefined })),
          })),
          default: deps.config.pipeline.default ?? null,
        };
        ctx.body = body;
      },
    }),
  ];
}
