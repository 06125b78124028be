import { z } from 'zod';
import { ROLES } from '../../infra/config/authConfig.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';

export const meSchema = z.object({ name: z.string(), role: z.enum(ROLES) });

/** Who the token belongs to: the UI shows the role and greys out what the role may not do. */
export function meRoutes(): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/me',
      tag: 'auth',
      summary: 'the name and role of the calling token',
      role: 'viewer',
      responses: { 200: { description: 'the principal', schema: meSchema }, ...errorResponses(401) },
      handler: (ctx, { principal }) => {
        ctx.body = { name: principal.name, role: principal.role };
      },
    }),
  ];
}
