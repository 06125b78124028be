import { lstat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import type { Context } from 'koa';
import { z } from 'zod';
import type { JobEvent } from '../../domain/events.ts';
import { stageState } from '../../domain/jobDecider.ts';
import { stageRuns } from '../../domain/logRecord.ts';
import { readJobStream, readStageLog, stageLogEnd } from '../../infra/eventstore/stageLogStreams.ts';
import { openPrivateFile, UnsafeFileError } from '../../infra/files/privateFile.ts';
import { foldJob, recordBytes, stageLogFile } from '../../projections/index.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { badRequest, HttpError, invalidInput, notFound } from '../errors.ts';
import { followStageLog, stageMayWrite } from '../logs/followStageLog.ts';
import { StageLogHub } from '../logs/stageLogHub.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import { stageParams } from '../schemas.ts';
import { openStream } from '../sse/openStream.ts';

/** A log follow's resume point: a byte offset into the stage's log (the `id:` of its frames). */
const BYTE_OFFSET = z.string().regex(/^\d+$/, 'a byte offset into the log (digits only)');

const logQuery = z.object({
  follow: z.enum(['1', 'true', '0', 'false']).optional(),
  access_token: z.string().optional(),
});

/** A stage's log as the store has it: the job's events, and where the log ends (0 and no records: none yet). */
interface StageLogSource {
  events: JobEvent[];
  end: number;
  records: boolean;
  /** The projected file, for logs written before logs were in the store (no records, the file only). */
  file: string;
}

/**
 * `GET /jobs/{id}/stages/{stage}/log`: the stage's log as text, or with `?follow=1` an SSE stream of its
 * lines (`id:` = byte offset after the line, so `Last-Event-ID` resumes exactly) that ends with `event: end`
 * once the stage can no longer write to it. Both read the event store (the stage's log streams), so any
 * process of a cluster serves any log, live; followers share one live subscription per process.
 */
export function logRoutes(deps: ApiDeps): AnyRoute[] {
  const hub = new StageLogHub(deps.store, deps.logger);

  /** The log of a stage that exists; 404 for an unknown job or stage, or a stage that has no log yet. */
  const stageLog = async (jobId: string, stage: string): Promise<StageLogSource> => {
    const events = await readJobStream(deps.store, jobId);
    const state = foldJob(events).state;
    if (state.status === 'none') throw notFound(`job ${jobId} not found`);
    if (!stageState(state, stage)) throw notFound(`job ${jobId} has no stage ${stage}`);
    const file = stageLogFile(deps.config.storage.runs_dir, jobId, stage);
    if (file === null) throw notFound(`job ${jobId} has no stage ${stage}`);
    // The log comes from the store, but a link a stage planted at the projected file's name says the run
    // dir was tampered with: 409 `unsafe_file`, as for every run-dir file, never its target's bytes.
    const existing = await assertPlainFile(file, stage);
    const { end, records } = await stageLogEnd(deps.store, jobId, stage, stageRuns(events, stage));
    if (!records && !existing) throw notFound(`stage ${stage} of job ${jobId} has no log yet`);
    return { events, end, records, file };
  };

  const follow = async (ctx: Context, jobId: string, stage: string, log: StageLogSource) => {
    if (deps.isShuttingDown())
      throw new HttpError('shutting_down', 'the server is shutting down', 'unavailable');
    const resumeAt = ctx.get('last-event-id').trim();
    if (resumeAt) {
      const parsed = BYTE_OFFSET.safeParse(resumeAt);
      if (!parsed.success) throw invalidInput('Last-Event-ID header', parsed.error);
    }
    const legacy = log.records ? null : await readLegacy(log.file, stage);
    const size = legacy ? legacy.length : log.end;
    // Compared as written: a number past 2^53 must not round to another one in the answer.
    if (resumeAt && BigInt(resumeAt) > BigInt(size))
      throw badRequest(`Last-Event-ID ${resumeAt} is past the end of the log (${size} bytes)`);
    const from = resumeAt ? Number(resumeAt) : 0;
    if (from === size && size > 0 && !stageMayWrite(foldJob(log.events).state, stage)) {
      // The reconnect after `end` (its id is the log's end): nothing more will come, and 204 is what makes
      // an EventSource stop, as on the event streams.
      ctx.status = 204;
      return;
    }
    // Counts against the token's live streams like an event stream. Its heartbeats are named: the log's
    // lines are the unnamed frames here.
    const session = openStream(deps, ctx, { jobId, style: { names: 'canonical', named: true } });
    ctx.respond = false;
    session.open(deps.config.streaming.retry_ms, { job_id: jobId, stage, offset: from });
    const offset =
      legacy !== null && !stageMayWrite(foldJob(log.events).state, stage)
        ? await sendLegacy(legacy, from, (frames) => session.send(frames))
        : await followStageLog({ store: deps.store, hub, session, jobId, stage, from });
    if (offset !== null)
      session.end(`event: end\nid: ${offset}\ndata: ${JSON.stringify({ job_id: jobId, stage, offset })}\n\n`);
  };

  return [
    route({
      method: 'get',
      path: '/jobs/{id}/stages/{stage}/log',
      tag: 'logs',
      summary:
        "a stage's log (text); with follow=1 an SSE stream of its lines, id = byte offset, until the stage ends (end carries the final offset as its id; a reconnect there gets 204)",
      role: 'viewer',
      queryToken: (query) => query['follow'] === '1' || query['follow'] === 'true',
      params: stageParams,
      query: logQuery,
      headers: { 'Last-Event-ID': 'with follow=1: resume after this byte offset' },
      responses: {
        200: {
          description:
            'the log, one timestamped line per output line; with follow=1 a text/event-stream of its lines',
          contentType: 'text/plain',
        },
        204: {
          description:
            'follow=1 with Last-Event-ID at the end of a log the stage can no longer write to: nothing more (an EventSource stops)',
        },
        ...errorResponses(400, 401, 404, 409, 429),
      },
      handler: async (ctx, { params, query }) => {
        const log = await stageLog(params.id, params.stage);
        if (query.follow === '1' || query.follow === 'true') return follow(ctx, params.id, params.stage, log);
        ctx.type = 'text/plain; charset=utf-8';
        if (!log.records) {
          ctx.body = await readLegacy(log.file, params.stage);
          return;
        }
        // The log as the store has it now; a running stage's later lines are for the next request (or follow=1).
        const { store } = deps;
        const runs = stageRuns(log.events, params.stage);
        ctx.body = Readable.from(
          (async function* () {
            for await (const stored of readStageLog(store, params.id, params.stage, runs))
              if (stored.record.offset < log.end) yield recordBytes(stored);
          })(),
        );
      },
    }),
  ];
}

/**
 * Throws `UnsafeFileError` when something other than a regular file with one name stands at the projected
 * log's name (or `logs/` is not a real directory); true when the file exists.
 */
async function assertPlainFile(file: string, stage: string): Promise<boolean> {
  const label = `logs/${stage}.log`;
  const logsDir = await lstat(dirname(file)).catch(() => null);
  if (logsDir === null) return false;
  if (!logsDir.isDirectory()) throw new UnsafeFileError('logs', 'is not a directory (a symbolic link?)');
  const stats = await lstat(file).catch(() => null);
  if (stats === null) return false;
  if (stats.isSymbolicLink()) throw new UnsafeFileError(label, 'is a symbolic link');
  if (!stats.isFile()) throw new UnsafeFileError(label, 'is not a regular file');
  if (stats.nlink > 1) throw new UnsafeFileError(label, `has ${stats.nlink} names (a hard link)`);
  return true;
}

/** A log file from before logs were in the store, read with the same refusals (O_NOFOLLOW, one name). */
async function readLegacy(file: string, stage: string): Promise<Buffer> {
  const handle = await openPrivateFile(file, 'read', `logs/${stage}.log`);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** A log from before logs were in the store, sent from its file once. */
async function sendLegacy(
  bytes: Buffer,
  from: number,
  send: (frames: string) => Promise<boolean>,
): Promise<number | null> {
  let frames = '';
  let at = from;
  while (at < bytes.length) {
    const newline = bytes.indexOf(0x0a, at);
    const end = newline < 0 ? bytes.length : newline + 1;
    frames += `id: ${end}\ndata: ${bytes.toString('utf8', at, newline < 0 ? end : newline).replace(/\r/g, '')}\n\n`;
    at = end;
  }
  if (frames !== '' && !(await send(frames))) return null;
  return at;
}
