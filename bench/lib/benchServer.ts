// A child process serving the operator exactly as `operator serve` composes it (startServer with a config
// file), plus a stdin/stdout control channel for benchmarks and fault scenarios: append load on one job
// from inside the process, RSS, SSE session records and server-side cuts.
// Run: node --import tsx bench/lib/benchServer.ts --config <file.yaml> [--log <file>]
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { pino } from 'pino';
import type { OpenStreamOptions } from '../../src/api/sse/sseHub.ts';
import type { SseSession } from '../../src/api/sse/sseSession.ts';
import { DEFAULT_WIRE_STYLE, WireEvent } from '../../src/api/sse/wireFrames.ts';
import type { NewJobEvent } from '../../src/domain/events.ts';
import { loadConfig } from '../../src/infra/config/loadConfig.ts';
import type { AppendOptions, EventData } from '../../src/infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX, jobStreamName } from '../../src/infra/eventstore/eventStore.ts';
import { toEventData, toJobEvent } from '../../src/infra/eventstore/jobEvents.ts';
import { createLogger } from '../../src/infra/logging/logger.ts';
import { startServer } from '../../src/server/startServer.ts';
import { appendNext, CycleJob, seedCycleJob, startNext } from './cycleJob.ts';
import { emit, measuredRss, serveRpc } from './rpc.ts';
import { Samples, sleep, summarize } from './stats.ts';

const { values } = parseArgs({ options: { config: { type: 'string' }, log: { type: 'string' } } });
if (!values.config) throw new Error('--config is required');
const config = loadConfig({ path: values.config });
const logger = createLogger({
  level: config.server.log_level,
  destination: values.log ? pino.destination({ dest: values.log, sync: false, mkdir: true }) : undefined,
});
const server = await startServer({ config, logger });
const { deps } = server;

interface SessionRecord {
  remotePort: number | undefined;
  openedAt: number;
  closedAt: number | null;
  reason: string | null;
  /** How long the session had been waiting for its socket to drain when it closed (null: it was not). */
  blockedMs: number | null;
}
/** Every session's record (open or closed); the session objects themselves only while they are open. */
const records: SessionRecord[] = [];
const openSessions = new Set<SseSession>();
const recordOf = new Map<SseSession, SessionRecord>();
const hub = deps.hub;
// Records closes through the hub, not a listener on the session (which would add memory per connection).
hub.onSessionClosed((session) => {
  const record = recordOf.get(session);
  if (!record) return;
  recordOf.delete(session);
  openSessions.delete(session);
  record.closedAt = Date.now();
  record.reason = session.closeReason;
  record.blockedMs = session.blockedSince === null ? null : record.closedAt - session.blockedSince;
});
const open = hub.open.bind(hub);
hub.open = (res: ServerResponse, options: OpenStreamOptions): SseSession => {
  const session = open(res, options);
  const record: SessionRecord = {
    remotePort: res.socket?.remotePort,
    openedAt: Date.now(),
    closedAt: null,
    reason: null,
    blockedMs: null,
  };
  records.push(record);
  openSessions.add(session);
  recordOf.set(session, record);
  return session;
};

/**
 * Commit times of job-stream appends while recording (whoever appends: the runner, the API's commands):
 * the monotonic clock when the store's append resolved (the durable commit), per stream and revision range.
 */
let recordingCommits = false;
const commits: { stream: string; first: number; last: number; ns: bigint }[] = [];
const append = deps.store.append.bind(deps.store);
deps.store.append = async (stream: string, events: readonly EventData[], options?: AppendOptions) => {
  const result = await append(stream, events, options);
  if (recordingCommits && stream.startsWith(JOB_STREAM_PREFIX))
    commits.push({
      stream,
      first: result.nextRevision - events.length + 1,
      last: result.nextRevision,
      ns: process.hrtime.bigint(),
    });
  return result;
};

const jobs = new Map<string, CycleJob>();
const cycleJob = (jobId: string) => {
  let job = jobs.get(jobId);
  if (!job) {
    job = new CycleJob(jobId, { maxEventsPerJob: config.storage.max_events_per_job });
    jobs.set(jobId, job);
  }
  return job;
};
const nowNs = () => process.hrtime.bigint().toString();
/** Appends `drive` keeps in flight at most (a producer that waits for none would hold unbounded memory). */
const MAX_IN_FLIGHT = 64;

serveRpc(
  {
    rss: (p) => measuredRss(p.gc !== false),
    /** CPU time of this process so far (user + system, ms): a figure the shared machine's load hardly moves. */
    cpuMs: () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    },
    /** Writes a cycle job of `events` events straight to the store (finish: end it with an approval). */
    seed: async (p) => {
      const r = await seedCycleJob(deps.store, String(p.jobId), Number(p.events), {
        finish: Boolean(p.finish),
        maxEventsPerJob: config.storage.max_events_per_job,
      });
      jobs.set(String(p.jobId), r.job);
      return { events: r.events, position: r.position, seq: r.job.state.seq, status: r.job.state.status };
    },
    /** Resolves once every projection has applied the store's head. */
    waitProjections: async (p) => {
      const head = await deps.store.headPosition();
      if (head === null) return { head, reached: true };
      const reached = await deps.projections.waitForPosition(head, Number(p.timeoutMs ?? 120_000));
      return { head, reached };
    },
    /**
     * Appends the cycle job's next command `eventsPerSecond` times a second for `durationMs`, open loop as a
     * producer at that rate would: each command is decided on the state held here (folded as soon as it is
     * appended, before its commit) and appended with the next expected revision while earlier commits are
     * still in flight (the store runs its write transactions in call order), at most `MAX_IN_FLIGHT` at once;
     * the first failed append stops the drive. Stage events carry `t_ns`, the monotonic clock
     * (CLOCK_MONOTONIC, shared by every process of the machine) taken just before their append.
     */
    drive: async (p) => {
      const job = cycleJob(String(p.jobId));
      const msPerEvent = 1000 / Number(p.eventsPerSecond);
      const durationMs = Number(p.durationMs);
      const padding = p.padBytes ? 'x'.repeat(Number(p.padBytes)) : undefined;
      const appendMs = new Samples();
      /** For each measured seq: t_ns to the append's resolution (the durable commit), in ms. */
      const commitMs: Record<number, number> = {};
      const inFlight = new Set<Promise<void>>();
      let failure: { error: unknown } | null = null;
      let events = 0;
      let measured = 0;
      let late = 0;
      let peakInFlight = 0;
      const started = performance.now();
      for (let due = started; due - started < durationMs && !failure; ) {
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        else if (wait < -50) late++;
        while (inFlight.size >= MAX_IN_FLIGHT && !failure) await Promise.race(inFlight);
        if (failure) break;
        const sent = process.hrtime.bigint();
        const payload = padding === undefined ? { t_ns: String(sent) } : { t_ns: String(sent), pad: padding };
        const next = startNext(deps.store, job, payload);
        const stageSeqs: number[] = [];
        for (const [k, e] of next.events.entries())
          if (e.type === 'stage_started' || e.type === 'stage_completed') stageSeqs.push(next.firstSeq + k);
        const settled: Promise<void> = next.committed.then(
          () => {
            const committed = Number(process.hrtime.bigint() - sent) / 1e6;
            appendMs.push(committed);
            for (const seq of stageSeqs) commitMs[seq] = committed;
          },
          (error: unknown) => {
            failure ??= { error };
          },
        );
        inFlight.add(settled);
        void settled.finally(() => inFlight.delete(settled));
        peakInFlight = Math.max(peakInFlight, inFlight.size);
        events += next.events.length;
        measured += stageSeqs.length;
        due += next.events.length * msPerEvent;
      }
      // The rate held is that of the appends issued; their commits may still be landing.
      const seconds = (performance.now() - started) / 1000;
      await Promise.all(inFlight);
      if (failure) throw (failure as { error: unknown }).error;
      return {
        events,
        measured,
        late,
        peakInFlight,
        eventsPerSecond: events / seconds,
        seq: job.state.seq,
        appendMs: summarize(appendMs.values()),
        commitMs,
      };
    },
    /**
     * Appends `events` events of the cycle job as fast as the store takes them, `chunk` events per atomic
     * append; returns the monotonic time before the first append.
     */
    burst: async (p) => {
      const job = cycleJob(String(p.jobId));
      const total = Number(p.events);
      const chunk = Number(p.chunk ?? 50);
      const startNs = nowNs();
      let written = 0;
      while (written < total) {
        const before = job.state;
        const decided: NewJobEvent[] = [];
        const ids: string[] = [];
        while (decided.length < Math.min(chunk, total - written)) {
          const next = job.decideNext({ t_ns: startNs });
          const nextIds = next.map(() => randomUUID());
          job.applied(next, nextIds);
          decided.push(...next);
          ids.push(...nextIds);
        }
        const data = decided.map((e, i) => toEventData(e, ids[i] as string));
        await deps.store.append(jobStreamName(job.jobId), data, {
          expectedRevision: before.seq < 0 ? 'no_stream' : before.seq,
        });
        written += data.length;
      }
      return { startNs, events: written, seq: job.state.seq, endNs: nowNs() };
    },
    /** Ends the cycle job: runs the cycle to its gate, then approves (job_completed). */
    finish: async (p) => {
      const job = cycleJob(String(p.jobId));
      while (!job.ended) await appendNext(deps.store, job, {}, true);
      return { seq: job.state.seq, status: job.state.status };
    },
    /** Starts (or stops) recording commit times; starting forgets what was recorded. */
    recordCommits: (p) => {
      recordingCommits = Boolean(p.on);
      if (recordingCommits) commits.length = 0;
      return null;
    },
    /**
     * The recorded commits, one row per event in commit order: its global position (the `id:` of the
     * all-jobs stream), its commit time (ns) and its frame on that stream in the default style.
     */
    commits: async () => {
      const rows: { id: string; ns: string; frame: string }[] = [];
      for (const commit of commits) {
        for await (const recorded of deps.store.readStream(commit.stream, {
          fromRevision: commit.first,
          maxCount: commit.last - commit.first + 1,
        })) {
          const wire = new WireEvent(toJobEvent(recorded));
          rows.push({
            id: wire.event.position,
            ns: commit.ns.toString(),
            frame: wire.frame('all', DEFAULT_WIRE_STYLE).toString(),
          });
        }
      }
      return rows;
    },
    sessions: () => records,
    hubSize: () => hub.size,
    /** Destroys `count` random open SSE sockets from the server side. */
    cutRandom: (p) => {
      const live = [...openSessions];
      let cut = 0;
      for (let i = 0; i < Number(p.count) && live.length > 0; i++) {
        const [session] = live.splice(Math.floor(Math.random() * live.length), 1);
        session?.cutOff('fault injection: server-side destroy');
        cut++;
      }
      return { cut };
    },
    url: () => server.url,
    /** Writes a V8 heap snapshot (for the memory per connection) and returns its path. */
    heapSnapshot: (p) => writeHeapSnapshot(String(p.path)),
  },
  async () => {
    await server.close();
  },
);

const shutdown = () => {
  server.close().finally(() => process.exit(0));
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
emit('ready', { url: server.url, pid: process.pid, nofile: process.env.BENCH_NOFILE ?? null });
