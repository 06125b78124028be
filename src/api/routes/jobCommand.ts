import type { Context } from 'koa';
import type { JobCommand } from '../../domain/commands.ts';
import type { JobState } from '../../domain/jobState.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { badRequest } from '../errors.ts';
import { commandResultSchema } from '../schemas.ts';
import { jobAfter } from './jobView.ts';

/**
 * `If-Match: 3` or `If-Match: "3"` makes a command conditional on the job's seq. A seq past 2^53 - 1 is
 * refused as it is in `after`: no job gets there, and as a number it would be rounded (1e+23).
 */
export function expectedSeq(ctx: Context): number | undefined {
  const header = ctx.get('if-match');
  if (!header) return undefined;
  const match = /^\s*(?:W\/)?"?(-?\d+)"?\s*$/.exec(header);
  if (!match) throw badRequest('If-Match must be the job seq, e.g. If-Match: "3"');
  const seq = Number(match[1]);
  if (!Number.isSafeInteger(seq))
    throw badRequest(`invalid If-Match header: Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`);
  return seq;
}

/** The header a conditional command documents. */
export const conditional = { 'If-Match': 'the job seq the client last saw; 409 when the job has moved on' };

export const commandResponses = {
  200: { description: 'the job and the events appended', schema: commandResultSchema },
};

/** Answers `{job, events}`: the job after the command and the events it appended. */
export async function answerCommand(
  deps: ApiDeps,
  ctx: Context,
  jobId: string,
  result: { state: JobState; events: readonly unknown[]; position: string | null },
): Promise<void> {
  const job = await jobAfter(deps, jobId, result.state, result.position);
  ctx.body = `{"job":${JSON.stringify(job)},"events":${JSON.stringify(result.events)}}`;
  ctx.type = 'application/json';
}

/** Runs one command (conditional on `If-Match`) and answers with the job and the events it appended. */
export async function runCommand(
  deps: ApiDeps,
  ctx: Context,
  jobId: string,
  build: (actor: string, ts: string) => JobCommand,
): Promise<void> {
  const actor = (ctx.state.principal as { name: string }).name;
  const result = await deps.commands.handle(jobId, build(actor, deps.clock().toISOString()), {
    expectedSeq: expectedSeq(ctx),
  });
  await answerCommand(deps, ctx, jobId, result);
}
