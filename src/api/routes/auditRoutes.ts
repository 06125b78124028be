import { Readable } from 'node:stream';
import type { Context } from 'koa';
import { z } from 'zod';
import type { GateDecision } from '../../audit/gateDecisions.ts';
import {
  GATE_DECISION_TYPES,
  gateDecisionCsvHeader,
  gateDecisionCsvRow,
  isGateDecisionEvent,
  toGateDecision,
} from '../../audit/gateDecisions.ts';
import type { JobEvent } from '../../domain/events.ts';
import { JOB_ID_PATTERN, JOB_ID_RULE } from '../../domain/events.ts';
import type { ApiDeps } from '../apiDeps.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import type { EventSearchPort } from './searchRoutes.ts';
import { isoTimeParam, searchCursorParam } from './searchRoutes.ts';

export const gateAuditQuery = z.object({
  job: z.string().regex(JOB_ID_PATTERN, JOB_ID_RULE).optional(),
  from: isoTimeParam.optional().describe('decisions at or after this ISO time'),
  to: isoTimeParam.optional().describe('decisions before this ISO time'),
  format: z.enum(['json', 'csv']).optional().describe('csv: text/csv (also chosen by Accept: text/csv)'),
  limit: z
    .string()
    .regex(/^\d+$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(1).max(10_000))
    .optional()
    .describe('JSON page size (default 1000); CSV holds every decision unless a limit is given'),
  cursor: searchCursorParam.optional(),
});

export const gateDecisionSchema = z.object({
  time: z.string(),
  job_id: z.string(),
  pipeline: z.string().nullable(),
  stage: z.string().nullable(),
  gate: z.string(),
  decision: z.enum(['approved', 'rejected', 'auto_approved']),
  actor: z.string(),
  by_timer: z.boolean(),
  comment: z.string().nullable(),
  reason: z.string().nullable(),
  position: z.string(),
  event_id: z.string(),
});

export const gateAuditPageSchema = z.object({
  decisions: z.array(gateDecisionSchema),
  next_cursor: z.string().nullable(),
});

const JSON_PAGE = 1000;
const CSV_CHUNK = 1000;

function wantsCsv(ctx: Context, format: 'json' | 'csv' | undefined): boolean {
  if (format !== undefined) return format === 'csv';
  return ctx.accepts('application/json', 'text/csv') === 'text/csv';
}

/** Gate decisions ("who approved what, when") from the read model's search index. */
export function auditRoutes(deps: ApiDeps, search: EventSearchPort): AnyRoute[] {
  const pipelines = new Map<string, string | null>();
  const pipelineOf = (jobId: string): string | null => {
    // a job's pipeline never changes: remember it (a bounded cache)
    let pipeline = pipelines.get(jobId);
    if (pipeline === undefined) {
      pipeline = deps.readModel.getJob(jobId)?.pipeline ?? null;
      if (pipelines.size >= 10_000) pipelines.clear();
      if (pipeline !== null) pipelines.set(jobId, pipeline);
    }
    return pipeline;
  };
  const page = (query: z.output<typeof gateAuditQuery>, limit: number, cursor: string | undefined) => {
    const result = search.search({
      types: GATE_DECISION_TYPES,
      jobId: query.job,
      from: query.from,
      to: query.to,
      limit,
      cursor,
    });
    const decisions: GateDecision[] = [];
    for (const json of result.events) {
      const event = JSON.parse(json) as JobEvent;
      if (isGateDecisionEvent(event)) decisions.push(toGateDecision(event, pipelineOf(event.job_id)));
    }
    return { decisions, next_cursor: result.next_cursor };
  };
  return [
    route({
      method: 'get',
      path: '/audit/gates',
      tag: 'audit',
      summary:
        'every gate decision (job, gate, decision, actor, comment, time, by_timer) in position order; JSON pages or CSV (?format=csv or Accept: text/csv)',
      role: 'viewer',
      query: gateAuditQuery,
      responses: {
        200: {
          description: 'JSON: a page of decisions; CSV (text/csv, RFC 4180, header row): every decision',
          schema: gateAuditPageSchema,
        },
        ...errorResponses(400, 401),
      },
      handler: (ctx, { query }) => {
        if (!wantsCsv(ctx, query.format)) {
          ctx.body = page(query, query.limit ?? JSON_PAGE, query.cursor);
          return;
        }
        const max = query.limit ?? Number.POSITIVE_INFINITY;
        // The first chunk is read before the response starts, so a bad cursor is still a 400.
        const first = page(query, Math.min(CSV_CHUNK, max), query.cursor);
        async function* rows(): AsyncGenerator<string> {
          yield gateDecisionCsvHeader();
          let result = first;
          let sent = 0;
          for (;;) {
            for (const d of result.decisions) yield gateDecisionCsvRow(d);
            sent += result.decisions.length;
            if (result.next_cursor === null || sent >= max) return;
            // let other requests run between chunks
            await new Promise((resolve) => setImmediate(resolve));
            result = page(query, Math.min(CSV_CHUNK, max - sent), result.next_cursor);
          }
        }
        ctx.type = 'text/csv; charset=utf-8; header=present';
        ctx.set('Content-Disposition', 'attachment; filename="gate-decisions.csv"');
        ctx.body = Readable.from(rows());
      },
    }),
  ];
}
