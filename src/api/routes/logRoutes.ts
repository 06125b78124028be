import type { FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'koa';
import { z } from 'zod';
import { stageState } from '../../domain/jobDecider.ts';
import type { JobState } from '../../domain/jobState.ts';
import { isUnsafeFileError, openPrivateFile } from '../../infra/files/privateFile.ts';
import { stagePaths } from '../../runner/index.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { badRequest, HttpError, notFound } from '../errors.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import { stageParams } from '../schemas.ts';
import { openStream } from '../sse/openStream.ts';
import type { SseSession } from '../sse/sseSession.ts';

const logQuery = z.object({
  follow: z.enum(['1', 'true', '0', 'false']).optional(),
  access_token: z.string().optional(),
});

/** How often a followed log is checked for growth and its stage for an end. */
const POLL_MS = 100;
/** Bytes read per step; a longer line is sent in pieces. */
const CHUNK_BYTES = 64 * 1024;

/**
 * `GET /jobs/{id}/stages/{stage}/log`: the stage's log as text, or with `?follow=1` an SSE stream of its
 * lines (`id:` = byte offset after the line, so `Last-Event-ID` resumes exactly) that ends with `event: end`
 * once the stage is no longer running.
 */
export function logRoutes(deps: ApiDeps): AnyRoute[] {
  /** The log file of a stage that exists; 404 for an unknown job or stage, or a stage that has no log yet. */
  const logFile = async (
    jobId: string,
    stage: string,
  ): Promise<{ path: string; size: number; state: JobState }> => {
    const state = await deps.commands.load(jobId);
    if (state.status === 'none') throw notFound(`job ${jobId} not found`);
    if (!stageState(state, stage)) throw notFound(`job ${jobId} has no stage ${stage}`);
    const path = stagePaths(deps.config.storage.runs_dir, jobId, stage).log;
    // Never through a link (or a pipe, or a hard link) a stage planted in logs/: 409 `unsafe_file` instead.
    try {
      const file = await openPrivateFile(path, 'read', `logs/${stage}.log`);
      const size = (await file.stat()).size;
      await file.close();
      return { path, size, state };
    } catch (error) {
      if (isUnsafeFileError(error)) throw error;
      throw notFound(`stage ${stage} of job ${jobId} has no log yet`);
    }
  };

  /**
   * True while the stage runs, so its log may still grow: per the read model once it has caught up with the
   * state read at the request, per that state until then. (The runner closes a log before it reports the
   * stage's end, so once the stage is seen ended, the file is complete.)
   */
  const stageRunning = (jobId: string, stage: string, atRequest: JobState): boolean => {
    const job = deps.readModel.getJob(jobId);
    if (job === undefined || job.seq < atRequest.seq)
      return stageState(atRequest, stage)?.status === 'running';
    return job.status === 'running' && job.current_stage === stage;
  };

  const follow = async (
    ctx: Context,
    jobId: string,
    stage: string,
    { path, size, state }: { path: string; size: number; state: JobState },
  ) => {
    if (deps.isShuttingDown()) throw new HttpError('shutting_down', 'the server is shutting down', 503);
    const resumeAt = ctx.get('last-event-id').trim();
    if (resumeAt && !/^\d+$/.test(resumeAt))
      throw badRequest(`Last-Event-ID ${JSON.stringify(resumeAt)} is not a byte offset`);
    const from = resumeAt ? Number(resumeAt) : 0;
    if (from > size) throw badRequest(`Last-Event-ID ${from} is past the end of the log (${size} bytes)`);
    const file = await openPrivateFile(path, 'read', `logs/${stage}.log`);
    try {
      // Counts against the token's live streams like an event stream. Its heartbeats are named: the log's
      // lines are the unnamed frames here.
      const session = openStream(deps, ctx, {
        jobId,
        style: { names: 'canonical', named: true },
      });
      ctx.respond = false;
      session.open(deps.config.streaming.retry_ms, { job_id: jobId, stage, offset: from });
      const offset = await streamLines(session, file, from, () => stageRunning(jobId, stage, state));
      if (offset !== null)
        session.end(`event: end\ndata: ${JSON.stringify({ job_id: jobId, stage, offset })}\n\n`);
    } finally {
      await file.close();
    }
  };

  return [
    route({
      method: 'get',
      path: '/jobs/{id}/stages/{stage}/log',
      tag: 'logs',
      summary:
        "a stage's log (text); with follow=1 an SSE stream of its lines, id = byte offset, until the stage ends",
      role: 'viewer',
      queryToken: (query) => query['follow'] === '1' || query['follow'] === 'true',
      params: stageParams,
      query: logQuery,
      headers: { 'Last-Event-ID': 'with follow=1: resume after this byte offset' },
      responses: {
        200: {
          description: 'the log, one timestamped line per output line (or an event stream with follow=1)',
          contentType: 'text/plain',
        },
        ...errorResponses(400, 401, 404, 409),
      },
      handler: async (ctx, { params, query }) => {
        const log = await logFile(params.id, params.stage);
        if (query.follow === '1' || query.follow === 'true') return follow(ctx, params.id, params.stage, log);
        const { path, size } = log;
        ctx.type = 'text/plain; charset=utf-8';
        ctx.set('Cache-Control', 'no-cache');
        // The log as it is now; a running stage's later lines are for the next request (or follow=1).
        // Opened again the same way: a link planted since the check is not followed either.
        const file = await openPrivateFile(path, 'read', `logs/${params.stage}.log`);
        if (size === 0) await file.close();
        ctx.body = size === 0 ? '' : file.createReadStream({ start: 0, end: size - 1 });
      },
    }),
  ];
}

/**
 * Sends the whole lines from `offset` on, polling for growth, until the stage stops running (then the rest,
 * a last unterminated line included). Resolves the final offset, or null when the client went away.
 */
async function streamLines(
  session: SseSession,
  file: FileHandle,
  offset: number,
  running: () => boolean,
): Promise<number | null> {
  const buffer = Buffer.alloc(CHUNK_BYTES);
  for (;;) {
    // Read the "still running" answer before the file: a stage that ended has written its last line already.
    const ended = !running();
    const { bytesRead } = await file.read(buffer, 0, CHUNK_BYTES, offset);
    const chunk = buffer.subarray(0, bytesRead);
    const lastNewline = chunk.lastIndexOf(0x0a);
    const take = lastNewline >= 0 ? lastNewline + 1 : bytesRead === CHUNK_BYTES || ended ? bytesRead : 0;
    if (take > 0) {
      let frames = '';
      let at = offset;
      for (const line of splitLines(chunk.subarray(0, take))) {
        at += line.bytes;
        frames += `id: ${at}\ndata: ${line.text}\n\n`;
      }
      offset = at;
      if (!(await session.send(frames))) return null;
      continue;
    }
    if (ended) return offset;
    try {
      await sleep(POLL_MS, undefined, { signal: session.signal });
    } catch {
      return null;
    }
  }
}

function* splitLines(bytes: Buffer): Generator<{ text: string; bytes: number }> {
  let start = 0;
  while (start < bytes.length) {
    const newline = bytes.indexOf(0x0a, start);
    const end = newline < 0 ? bytes.length : newline + 1;
    // A CR would end an SSE line early: drop it.
    yield {
      text: bytes.toString('utf8', start, newline < 0 ? end : newline).replace(/\r/g, ''),
      bytes: end - start,
    };
    start = end;
  }
}
