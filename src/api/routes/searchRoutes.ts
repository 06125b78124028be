import { z } from 'zod';
import {
  EVENT_TYPES,
  JOB_ID_PATTERN,
  JOB_ID_RULE,
  JOB_STATUSES,
  jobEventSchema,
} from '../../domain/events.ts';
import type { EventSearchPage, EventSearchQuery } from '../../projections/index.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';

/** What the search routes need of the read model. */
export interface EventSearchPort {
  search(query: EventSearchQuery): EventSearchPage;
}

const limitParam = z
  .string()
  .regex(/^\d+$/, 'must be an integer')
  .transform(Number)
  .pipe(z.number().int().min(1).max(1000));

/** `type=a,b`: any of these event types. */
export const eventTypeList = z
  .string()
  .max(1000)
  .transform((s) =>
    s
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== ''),
  )
  .pipe(z.array(z.enum(EVENT_TYPES)).min(1, 'at least one event type'));

export const isoTimeParam = z.iso.datetime({ offset: true });

export const searchCursorParam = z
  .string()
  .max(200)
  .describe('next_cursor of the previous page (opaque; a position, so pages stay put while the log grows)');

export const searchEventsQuery = z.object({
  type: eventTypeList.optional().describe('event type, or several separated by commas (any of them)'),
  stage: z.string().min(1).max(200).optional(),
  status: z.enum(JOB_STATUSES).optional().describe('the job status the event recorded'),
  job: z.string().regex(JOB_ID_PATTERN, JOB_ID_RULE).optional(),
  actor: z.string().min(1).max(1000).optional(),
  q: z.string().min(1).max(500).optional().describe('case-insensitive substring of the message'),
  from: isoTimeParam.optional().describe('events with ts at or after this ISO time'),
  to: isoTimeParam.optional().describe('events with ts before this ISO time'),
  limit: limitParam.optional().describe('page size, default 100'),
  cursor: searchCursorParam.optional(),
});

export const searchPageSchema = z.object({
  events: z.array(jobEventSchema),
  next_cursor: z
    .string()
    .nullable()
    .describe('null once the end of the log was reached; a page may be short (or empty) and still have one'),
});

export function searchRoutes(search: EventSearchPort): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/events/search',
      tag: 'events',
      summary:
        'search events of every job by type, stage, status, job, actor, message text and time; position order, cursor pages',
      role: 'viewer',
      query: searchEventsQuery,
      responses: {
        200: { description: 'a page of matching events', schema: searchPageSchema },
        ...errorResponses(400, 401),
        503: { description: 'the search index is still being built after an upgrade' },
      },
      handler: (ctx, { query }) => {
        const page = search.search({
          types: query.type,
          stage: query.stage,
          status: query.status,
          jobId: query.job,
          actor: query.actor,
          q: query.q,
          from: query.from,
          to: query.to,
          limit: query.limit ?? 100,
          cursor: query.cursor,
        });
        ctx.type = 'application/json';
        ctx.body = `{"events":[${page.events.join(',')}],"next_cursor":${JSON.stringify(page.next_cursor)}}`;
      },
    }),
  ];
}
