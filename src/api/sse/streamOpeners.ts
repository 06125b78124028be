import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { JobStatus } from '../../domain/events.ts';
import { EVENT_TYPES, isTerminal } from '../../domain/events.ts';
import { jobStreamName } from '../../infra/eventstore/eventStore.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { badRequest, HttpError, invalidInput, notFound } from '../errors.ts';
import type { allStreamQuery, jobStreamQuery } from '../schemas.ts';
import { positionCursor, seqCursor } from '../schemas.ts';
import type { AllFeedFilter, FeedErrorHandler } from './eventFeed.ts';
import { AllJobsFeed, JobStreamFeed } from './eventFeed.ts';
import { openSession } from './openStream.ts';
import { wireStyle } from './wireFrames.ts';

export type JobStreamQuery = z.output<typeof jobStreamQuery>;
export type AllStreamQuery = z.output<typeof allStreamQuery>;

/** One request for an event stream, authenticated and parsed (by koa's route or by the stream front). */
export interface StreamAsk<Q> {
  query: Q;
  /** The `Last-Event-ID` header as sent, '' without one. */
  lastEventId: string;
  /** Whose stream it is (the token's name), for the per-token limit. */
  owner: string;
  res: ServerResponse;
  /** Sent with the 200 besides the SSE headers (request id, CORS) when they are not set on `res` already. */
  headers?: OutgoingHttpHeaders;
}

/** `streaming`: the 200 went out and a feed writes to it. `finished`: the job has nothing more (answer 204). */
export type StreamOutcome = 'streaming' | 'finished';

/**
 * The two event streams' rules, whoever parsed the request: where a stream resumes (`Last-Event-ID`, then
 * `after`, then `since`, else now), the refusals (400, 404, 429, 503) as thrown errors before anything is
 * written, and the start of the feed once the stream is open. The feed then runs on its own: nothing here
 * is held for the life of the connection.
 */
export class StreamOpeners {
  private readonly onFeedError: FeedErrorHandler;

  constructor(private readonly deps: ApiDeps) {
    this.onFeedError = (error, session) => {
      deps.logger.error({ err: error }, 'SSE stream failed');
      session.cutOff('server error');
    };
  }

  /** `GET /jobs/{id}/events/stream`: id = seq; ends after a terminal event. */
  async job(jobId: string, ask: StreamAsk<JobStreamQuery>): Promise<StreamOutcome> {
    const { deps } = this;
    const { query } = ask;
    this.refuseWhileClosing();
    const fromHeader = lastEventId(ask.lastEventId, seqCursor);
    const head = await this.headOf(jobId);
    if (head === undefined) throw notFound(`job ${jobId} not found`);
    let after: number;
    if (fromHeader !== undefined) after = fromHeader;
    else if (query.after !== undefined) after = query.after;
    else if (query.since !== undefined) {
      const first = deps.readModel.jobEvents(jobId, { since: query.since, limit: 1 }).events[0];
      after = first ? (JSON.parse(first) as { seq: number }).seq - 1 : head.seq;
    } else after = head.seq;
    const resumed = fromHeader !== undefined || query.after !== undefined || query.since !== undefined;
    // The standard way to tell an EventSource to stop reconnecting: the job has nothing more.
    if (isTerminal(head.status) && resumed && after >= head.seq) return 'finished';
    if (after > head.seq)
      throw badRequest(`resume point ${after} is past the job's last event (seq ${head.seq})`, {
        after,
        head: head.seq,
      });
    const style = wireStyle(query);
    const session = openSession(deps, ask.res, ask.owner, { jobId, style });
    session.open(
      deps.config.streaming.retry_ms,
      { job_id: jobId, after, server_time: deps.clock().toISOString() },
      ask.headers,
    );
    new JobStreamFeed(deps.store, deps.tail, session, jobId, after, style, this.onFeedError).start();
    return 'streaming';
  }

  /** `GET /events/stream`: every job (or `job`, `type`), id = position. */
  async all(ask: StreamAsk<AllStreamQuery>): Promise<StreamOutcome> {
    const { deps } = this;
    const { query } = ask;
    this.refuseWhileClosing();
    const filter: AllFeedFilter = { jobId: query.job };
    if (query.type) {
      const types = query.type.split(',').filter(Boolean);
      const unknown = types.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
      if (unknown.length > 0) throw badRequest(`unknown event type(s): ${unknown.join(', ')}`, { unknown });
      filter.types = new Set(types);
    }
    const fromHeader = lastEventId(ask.lastEventId, positionCursor);
    let after: bigint;
    const resumeAt = fromHeader ?? query.after;
    if (resumeAt !== undefined) {
      after = BigInt(resumeAt);
      // As on a job's stream: a position past the log's head is none this server gave (another store, a
      // restored backup), and waiting for the log to reach it would hide everything before.
      const head = await deps.store.headPosition();
      if (after > BigInt(head ?? -1))
        throw badRequest(`resume point ${after} is past the log's head (${head ?? 'empty log'})`, {
          after: after.toString(),
          head,
        });
    } else if (query.since !== undefined) after = this.positionBefore(query.since);
    else {
      await deps.tail.ready;
      after = deps.tail.position() ?? -1n;
    }
    const style = wireStyle(query);
    const session = openSession(deps, ask.res, ask.owner, { jobId: null, style });
    session.open(
      deps.config.streaming.retry_ms,
      { after: after.toString(), server_time: deps.clock().toISOString() },
      ask.headers,
    );
    new AllJobsFeed(deps.store, deps.tail, session, after, filter, style, this.onFeedError).run();
    return 'streaming';
  }

  private refuseWhileClosing(): void {
    if (this.deps.isShuttingDown())
      throw new HttpError('shutting_down', 'the server is shutting down', 'unavailable');
  }

  /** A job's last seq and status in the store; undefined when the job does not exist. */
  private async headOf(jobId: string): Promise<{ seq: number; status: JobStatus } | undefined> {
    for await (const e of this.deps.store.readStream(jobStreamName(jobId), {
      direction: 'backwards',
      maxCount: 1,
    })) {
      return { seq: e.revision, status: (e.data as { status: JobStatus }).status };
    }
    return undefined;
  }

  /**
   * The `after` that starts the all-jobs stream at the first event at or after `since`: one lookup in the
   * read model's time index. When every projected event is older, the stream starts after the read model's
   * checkpoint (whatever came after it is newer still).
   */
  private positionBefore(since: string): bigint {
    const { first, checkpoint } = this.deps.readModel.positionSince(since);
    if (first !== null) return BigInt(first) - 1n;
    return checkpoint === null ? -1n : BigInt(checkpoint);
  }
}

/** `Last-Event-ID`, read with the same schema as `after` (one rule for both ways to resume). */
function lastEventId<S extends z.ZodType>(header: string, schema: S): z.output<S> | undefined {
  const value = header.trim();
  if (!value) return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalidInput('Last-Event-ID header', parsed.error);
  return parsed.data;
}
