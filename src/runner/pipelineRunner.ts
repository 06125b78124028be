import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { JobCommand } from '../domain/commands.ts';
import { isOperatorError } from '../domain/errors.ts';
import type { JobEvent } from '../domain/events.ts';
import {
  hasRetriesLeft,
  nextStage,
  pendingGateDeadline,
  runningStage,
  stageDefinition,
} from '../domain/jobDecider.ts';
import type { JobState } from '../domain/jobState.ts';
import { payloadOf } from '../domain/payloadOf.ts';
import type { Config } from '../infra/config/configSchema.ts';
import type { EventStore, Subscription } from '../infra/eventstore/eventStore.ts';
import { isWrongExpectedRevisionError, JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import type { CommandResult, JobCommandHandler } from '../infra/eventstore/jobCommandHandler.ts';
import { toJobEvent } from '../infra/eventstore/jobEvents.ts';
import { isStorageFullError } from '../infra/files/storageFull.ts';
import type { PendingGate } from './gateTimers.ts';
import { GateTimers } from './gateTimers.ts';
import type { QueueInfo } from './jobBook.ts';
import { JobBook } from './jobBook.ts';
import { endOrphanStage } from './orphanStage.ts';
import { QUEUE_FRONT_STREAM, queueFrontEvent, queueFrontRequest } from './queueFront.ts';
import type { QueueInfoPort } from './queueInfoPort.ts';
import type { RunnerClock } from './runnerClock.ts';
import { systemClock } from './runnerClock.ts';
import { serverEnvironment, stageEnvironment, stageResultCommand } from './stageCommands.ts';
import { appendLogNote } from './stageLog.ts';
import { stagePaths } from '../infra/files/runsLayout.ts';
import type { StageOutcome } from './stageProcess.ts';
import { StageProcess } from './stageProcess.ts';
import { StorageBackoff } from './storageBackoff.ts';

export interface PipelineRunnerOptions {
  store: EventStore;
  commands: JobCommandHandler;
  /**
   * Reads `pipeline.lanes`, `pipeline.gate_holds_lane`, `pipeline.stage_kill_grace`, `storage.runs_dir`,
   * `runner.env_passthrough`, `runner.max_log_bytes`.
   */
  config: Config;
  logger: Logger;
  clock?: RunnerClock;
  /**
   * The server's environment; the composition root passes `process.env`. Stages get only PATH, HOME, LANG
   * and the names in `runner.env_passthrough` from it (`serverEnvironment`). Default: empty.
   */
  env?: NodeJS.ProcessEnv;
}

interface RunningChild {
  jobId: string;
  stage: string;
  attempt: number;
  process: StageProcess;
}

/** A decision that no longer applies when it is made on fresh state (the gate moved on, the attempt is over). */
class Superseded extends Error {}

type CommandInput = JobCommand | ((state: JobState) => JobCommand);
const RETRY_LATER_MS = 1000;
const RUNNER = 'runner';

/**
 * The process manager of DESIGN §7. It follows `$all` (job streams) from the start, folds every unfinished
 * job, and once caught up reconciles what the log says with what runs here: orphaned stages are failed
 * (`operator restarted`, retried per policy), gate deadlines are re-armed, lanes are filled. Then it reacts to
 * each new event. It keeps nothing the log cannot rebuild; every command it issues is decided on fresh state
 * with the expected revision, so a stale view can cost a refused command but never a double start.
 *
 * Work is done one step at a time (a command, a spawn, a reconciliation), so two steps never race each other;
 * stage processes run concurrently and report back through that same queue.
 */
export class PipelineRunner implements QueueInfoPort {
  readonly #store: EventStore;
  readonly #commands: JobCommandHandler;
  readonly #logger: Logger;
  readonly #clock: RunnerClock;
  readonly #serverEnv: Readonly<Record<string, string>>;
  readonly #backoff: StorageBackoff;
  readonly #lanes: number;
  readonly #killGraceMs: number;
  readonly #maxLogBytes: number;
  readonly #runsDir: string;
  readonly #book: JobBook;
  readonly #timers: GateTimers;
  readonly #children = new Map<string, RunningChild>();
  readonly #tasks: (() => Promise<void>)[] = [];
  readonly #dirty = new Set<string>();
  readonly #loading = new Set<string>();
  readonly #abort = new AbortController();
  #lanesDirty = false;
  #draining: Promise<void> | null = null;
  #loop: Promise<void> | null = null;
  #subscription: Subscription | null = null;
  #caughtUp = false;
  #recovered = false;
  #stopping: Promise<void> | null = null;
  #markReady!: () => void;
  /** Resolves once the runner has caught up with the log and dealt with the orphans it found. */
  readonly ready: Promise<void> = new Promise((resolve) => {
    this.#markReady = resolve;
  });

  constructor(options: PipelineRunnerOptions) {
    this.#store = options.store;
    this.#commands = options.commands;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock();
    this.#serverEnv = serverEnvironment(options.env ?? {}, options.config.runner.env_passthrough);
    this.#backoff = new StorageBackoff(options.logger);
    this.#lanes = options.config.pipeline.lanes;
    this.#killGraceMs = options.config.pipeline.stage_kill_grace;
    this.#maxLogBytes = options.config.runner.max_log_bytes;
    this.#runsDir = options.config.storage.runs_dir;
    this.#book = new JobBook({ lanes: this.#lanes, gateHoldsLane: options.config.pipeline.gate_holds_lane });
    this.#timers = new GateTimers(this.#clock, (jobId, pending) => {
      this.#tasks.push(() => this.#gateDeadline(jobId, pending));
      this.#kick();
    });
  }

  /** Starts following the log in the background; returns at once. */
  start(): void {
    this.#loop ??= this.#follow();
  }

  /**
   * Stops following the log, lets the step in flight finish, then ends every running stage process
   * (SIGTERM, SIGKILL after the grace) without writing anything: the next start finds those stages running
   * in the log and fails them as orphans (`operator restarted`), to be retried per their policy.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#abort.abort();
      // Stages are told to end first: a runner that lost its lease must not wait on a store that may not
      // answer before its processes stop. Their exits report nothing once the runner is stopping.
      this.#stopChildren();
      await this.#subscription?.close().catch(() => {});
      await this.#loop;
      this.#timers.clearAll();
      await this.#draining;
      this.#stopChildren(); // whatever the step in flight spawned meanwhile
      const children = [...this.#children.values()];
      await Promise.race([
        Promise.all(children.map((c) => c.process.done)),
        sleep(this.#killGraceMs + 3000, undefined, { ref: false }),
      ]);
      this.#logger.info({ stopped_stages: children.length }, 'runner: stopped');
    })();
    return this.#stopping;
  }

  #stopChildren(): void {
    for (const child of this.#children.values()) child.process.stop('operator shutting down');
  }

  queueInfo(jobId: string): QueueInfo {
    return this.#book.queueInfo(jobId);
  }

  /** Lanes: the limit and how many are held now (running jobs, and paused ones when gates hold lanes). */
  laneUse(): { limit: number; occupied: number } {
    return { limit: this.#lanes, occupied: this.#book.occupied() };
  }

  /**
   * `POST /jobs/{id}/start` without `force`: a free lane starts the job now (one step of the runner, so it
   * never races the lane filling); otherwise the job goes to the front of the queue (recorded in the store)
   * and starts at the next free lane. `not_queued`: the job is unknown here or no longer queued (the caller
   * lets the decider say why).
   */
  requestStart(jobId: string, by: string): Promise<CommandResult | 'queued' | 'not_queued'> {
    return new Promise((resolve) => {
      let tries = 0;
      const step = async (): Promise<void> => {
        const state = this.#book.get(jobId);
        if (!state && tries++ < 40) {
          // Created a moment ago: its first event has not reached this runner yet.
          setTimeout(() => {
            this.#tasks.push(step);
            this.#kick();
          }, 25).unref();
          return;
        }
        if (state?.status !== 'queued') return resolve('not_queued');
        if (this.#book.occupied() < this.#lanes) {
          const result = await this.#command(jobId, { type: 'start_job', actor: by, ts: this.#now() });
          return resolve(typeof result === 'string' ? 'not_queued' : result);
        }
        try {
          const written = await this.#store.append(QUEUE_FRONT_STREAM, [
            queueFrontEvent({ job_id: jobId, requested_by: by, ts: this.#now() }),
          ]);
          this.#book.toFront(jobId, BigInt(written.position), by);
          resolve('queued');
        } catch (error) {
          this.#logger.error({ err: error, job_id: jobId }, 'runner: cannot record a queue-front request');
          resolve('not_queued');
        }
      };
      this.#tasks.push(step);
      this.#kick();
    });
  }

  async #follow(): Promise<void> {
    let from = 'start';
    for (let delay = 100; !this.#abort.signal.aborted; delay = Math.min(delay * 2, 10_000)) {
      const subscription = this.#store.subscribeToAll({
        fromPosition: from,
        // Job streams, and the queue-front requests (`POST /jobs/{id}/start` without a free lane).
        filter: { streamNamePrefix: [JOB_STREAM_PREFIX, QUEUE_FRONT_STREAM] },
      });
      this.#subscription = subscription;
      try {
        for await (const item of subscription) {
          if (this.#abort.signal.aborted) break;
          if (item.kind === 'caught_up') {
            this.#onCaughtUp();
            continue;
          }
          from = item.event.position;
          delay = 100;
          const front = queueFrontRequest(item.event);
          if (front) {
            this.#book.toFront(front.job_id, BigInt(item.event.position), front.requested_by);
            this.#lanesDirty = true;
            this.#kick();
          } else if (item.event.streamId.startsWith(JOB_STREAM_PREFIX)) this.#onEvent(toJobEvent(item.event));
        }
      } catch (error) {
        if (!this.#abort.signal.aborted)
          this.#logger.error({ err: error, retry_in_ms: delay }, 'runner: subscription failed, reopening');
      } finally {
        await subscription.close().catch(() => {});
      }
      await sleep(delay, undefined, { signal: this.#abort.signal }).catch(() => {});
    }
  }

  #onEvent(event: JobEvent): void {
    const applied = this.#book.apply(event);
    if (applied === 'gap') this.#load(event.job_id, BigInt(event.position));
    if (applied !== 'applied') return;
    const child = this.#children.get(event.job_id);
    if (child && (event.type === 'job_canceled' || event.type === 'job_failed'))
      child.process.stop(event.type === 'job_canceled' ? 'job canceled' : 'job failed');
    this.#touch(event.job_id);
  }

  #onCaughtUp(): void {
    this.#caughtUp = true;
    if (!this.#recovered) {
      this.#recovered = true;
      this.#tasks.push(async () => {
        await this.#recoverOrphans();
        this.#markReady();
      });
    }
    for (const jobId of this.#book.jobIds()) this.#dirty.add(jobId);
    this.#lanesDirty = true;
    this.#kick();
  }

  /** The job changed: reconcile it, and the lanes. */
  #touch(jobId: string): void {
    this.#dirty.add(jobId);
    this.#lanesDirty = true;
    this.#kick();
  }

  /** An event the book cannot fold (a finished job resumed): read the job's state from its stream. */
  #load(jobId: string, order: bigint): void {
    if (this.#loading.has(jobId)) return;
    this.#loading.add(jobId);
    this.#tasks.push(async () => {
      try {
        this.#book.put(jobId, await this.#commands.load(jobId), order);
      } finally {
        this.#loading.delete(jobId);
      }
      this.#touch(jobId);
    });
    this.#kick();
  }

  #kick(): void {
    if (this.#draining || !this.#caughtUp || this.#abort.signal.aborted) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      if (this.#tasks.length > 0 || this.#dirty.size > 0 || this.#lanesDirty) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      const task = this.#tasks.shift();
      const jobId = task ? undefined : this.#dirty.values().next().value;
      let step: (() => Promise<void>) | undefined = task;
      if (!step && jobId !== undefined) {
        this.#dirty.delete(jobId);
        step = () => this.#reconcile(jobId);
      }
      if (!step && this.#lanesDirty) {
        this.#lanesDirty = false;
        step = () => this.#fillLanes();
      }
      if (!step) return;
      try {
        await step();
      } catch (error) {
        this.#logger.error({ err: error }, 'runner: step failed');
      }
    }
  }

  /** Brings one job in line with its state: stage process, gate timer, next stage. */
  async #reconcile(jobId: string): Promise<void> {
    const state = this.#book.get(jobId);
    const child = this.#children.get(jobId);
    if (!state) {
      this.#timers.clear(jobId);
      child?.process.stop('job ended');
      return;
    }
    this.#timers.sync(jobId, pendingGateDeadline(state));
    const running = runningStage(state);
    if (child) {
      if (running?.name !== child.stage || running.attempts !== child.attempt)
        child.process.stop(`stage ${child.stage} attempt ${child.attempt} is no longer running per the log`);
      return; // one process per job: a retry waits until the previous attempt is gone
    }
    if (state.status !== 'running' || running) return;
    const next = nextStage(state);
    const definition = next ? stageDefinition(state, next.name) : null;
    if (!next || !definition?.run) return; // no `run`: an external worker's stage
    if (next.status === 'failed' && !hasRetriesLeft(state, next.name)) return;
    await this.#startStage(jobId, next.name);
  }

  async #startStage(jobId: string, stage: string): Promise<void> {
    const result = await this.#command(jobId, { type: 'start_stage', stage, actor: RUNNER, ts: this.#now() });
    if (result === 'failed') return this.#later(() => this.#touch(jobId));
    if (result === 'refused') return;
    const started = result.events.find((e) => e.type === 'stage_started');
    const definition = stageDefinition(result.state, stage);
    if (!started || !definition?.run) return; // e.g. the event cap failed the job instead
    const attempt = payloadOf(started, 'stage_started').attempt ?? 1;
    const paths = stagePaths(this.#runsDir, jobId, stage);
    const paramsJson = JSON.stringify(result.state.params);
    let stageProcess: StageProcess;
    try {
      stageProcess = await StageProcess.start({
        jobId,
        stage,
        attempt,
        startedSeq: started.seq,
        store: this.#store,
        maxLogBytes: this.#maxLogBytes,
        run: definition.run,
        paths,
        env: stageEnvironment(this.#serverEnv, result.state, definition, attempt, paths, paramsJson),
        paramsJson,
        timeoutMs: definition.timeout ?? null,
        killGraceMs: this.#killGraceMs,
        now: () => this.#clock.now(),
        onLogWriteError: (error) =>
          this.#logger.error(
            { err: error, job_id: jobId, stage, attempt },
            "runner: cannot write the stage log; the rest of this attempt's output is dropped",
          ),
      });
    } catch (error) {
      this.#logger.error({ err: error, job_id: jobId, stage }, 'runner: cannot start a stage command');
      const report = async (): Promise<void> => {
        const failed = await this.#command(
          jobId,
          this.#forAttempt(stage, attempt, {
            type: 'fail_stage',
            stage,
            reason: `cannot start the command: ${(error as Error).message}`,
            payload: { log: `logs/${stage}.log` },
            actor: RUNNER,
            ts: this.#now(),
          }),
        );
        // Unreported, the attempt would stay running in the log with no process behind it.
        if (failed === 'failed')
          this.#later(() => {
            this.#tasks.push(report);
            this.#kick();
          });
      };
      await report();
      return;
    }
    const child: RunningChild = { jobId, stage, attempt, process: stageProcess };
    this.#children.set(jobId, child);
    void stageProcess.done.then((outcome) => {
      this.#tasks.push(() => this.#finishStage(child, outcome));
      this.#kick();
    });
  }

  async #finishStage(child: RunningChild, outcome: StageOutcome): Promise<void> {
    if (this.#children.get(child.jobId) === child) this.#children.delete(child.jobId);
    this.#touch(child.jobId);
    if (outcome.stoppedFor !== null) return; // stopped by the runner because the log moved on: nothing to report
    const command = stageResultCommand(child.stage, outcome, this.#now());
    const result = await this.#command(child.jobId, this.#forAttempt(child.stage, child.attempt, command));
    if (result === 'failed')
      this.#later(() => {
        this.#tasks.push(() => this.#finishStage(child, outcome));
        this.#kick();
      });
  }

  async #gateDeadline(jobId: string, pending: PendingGate): Promise<void> {
    const state = this.#book.get(jobId);
    if (!state) return;
    if (this.#clock.now().getTime() < Date.parse(pending.deadline)) {
      // Woke early (a timeout longer than one timer can wait): wait on.
      this.#timers.clear(jobId);
      this.#timers.sync(jobId, pendingGateDeadline(state));
      return;
    }
    const { gate } = pending;
    const ts = this.#now();
    const command: JobCommand =
      pending.on_timeout === 'approve'
        ? { type: 'auto_approve_gate', gate, actor: 'timer', ts }
        : { type: 'reject_gate', gate, reason: 'timeout', actor: 'timer', ts };
    const result = await this.#command(jobId, (fresh) => {
      const now = pendingGateDeadline(fresh);
      if (now?.gate !== gate || now.deadline !== pending.deadline) throw new Superseded();
      return command;
    });
    if (result === 'failed')
      this.#later(() => {
        this.#timers.clear(jobId); // re-armed (already due) by the reconciliation
        this.#touch(jobId);
      });
  }

  /** Starts queued jobs, oldest first, while a lane is free. */
  async #fillLanes(): Promise<void> {
    while (this.#book.occupied() < this.#lanes) {
      const jobId = this.#book.firstQueued();
      if (jobId === undefined) return;
      const requestedBy = this.#book.frontRequest(jobId);
      const result = await this.#command(jobId, {
        type: 'start_job',
        actor: RUNNER,
        ts: this.#now(),
        ...(requestedBy === undefined ? {} : { requested_by: requestedBy }),
      });
      if (result === 'failed') return this.#later(() => this.#touch(jobId));
      if (result === 'refused' && this.#book.firstQueued() === jobId) return;
    }
  }

  /** After a crash or a stop: stages the log says are running that no process of ours runs. */
  async #recoverOrphans(): Promise<void> {
    const orphans: { jobId: string; stage: string; attempt: number }[] = [];
    for (const jobId of this.#book.jobIds()) {
      const state = this.#book.get(jobId) as JobState;
      const running = runningStage(state);
      if (running && stageDefinition(state, running.name)?.run && !this.#children.has(jobId))
        orphans.push({ jobId, stage: running.name, attempt: running.attempts });
    }
    const reports = await Promise.all(
      orphans.map((o) =>
        endOrphanStage(stagePaths(this.#runsDir, o.jobId, o.stage), o.jobId, o.stage, {
          graceMs: this.#killGraceMs,
          logger: this.#logger,
        }),
      ),
    );
    for (const [i, o] of orphans.entries()) {
      const report = reports[i];
      // In the interrupted attempt's log, before the attempt is failed: a follower sees its last lines,
      // this note, then the retry's lines (the old runner, if it still writes, is refused from now on).
      await appendLogNote(
        this.#store,
        o.jobId,
        o.stage,
        this.#clock.now(),
        report?.note ?? `operator restarted: attempt ${o.attempt} interrupted`,
      ).catch((error) =>
        this.#logger.warn(
          { err: error, job_id: o.jobId, stage: o.stage },
          'runner: cannot note the orphan in the stage log',
        ),
      );
      await this.#command(
        o.jobId,
        this.#forAttempt(o.stage, o.attempt, {
          type: 'fail_stage',
          stage: o.stage,
          reason: 'operator restarted',
          payload: {
            orphan_pgid: report?.pgid ?? null,
            orphan: report?.outcome ?? null,
            log: `logs/${o.stage}.log`,
          },
          actor: RUNNER,
          ts: this.#now(),
        }),
      );
    }
    if (orphans.length > 0) this.#logger.warn({ orphans: orphans.length }, 'runner: orphaned stages failed');
  }

  /** The command applies only while `stage` is still running the same attempt. */
  #forAttempt(stage: string, attempt: number, command: JobCommand): (state: JobState) => JobCommand {
    return (state) => {
      const running = runningStage(state);
      if (running?.name !== stage || running.attempts !== attempt) throw new Superseded();
      return command;
    };
  }

  /**
   * Runs a command and takes the state it returns. `refused`: the decider said no (the view was stale, or the
   * decision no longer applies); `failed`: the store did not answer, try again later.
   */
  async #command(jobId: string, command: CommandInput): Promise<CommandResult | 'refused' | 'failed'> {
    try {
      const result = await this.#commands.handle(jobId, command);
      if (result.events.length > 0) this.#backoff.succeeded();
      this.#book.put(jobId, result.state, 0n);
      if (result.events.length > 0) this.#touch(jobId);
      return result;
    } catch (error) {
      if (error instanceof Superseded) return 'refused';
      if (isStorageFullError(error)) {
        this.#backoff.refused(this.#clock.now().getTime(), error); // logs once per step, not per retry
        return 'failed';
      }
      // Not a refusal: the store lost a race past the handler's retries, is closed or cannot be reached.
      if (!isOperatorError(error) || isWrongExpectedRevisionError(error) || error.kind === 'unavailable') {
        this.#logger.error({ err: error, job_id: jobId }, 'runner: command failed; will try again');
        return 'failed';
      }
      const type = typeof command === 'function' ? 'command' : command.type;
      this.#logger.debug({ job_id: jobId, command: type, code: error.code }, `runner: ${error.message}`);
      try {
        this.#book.put(jobId, await this.#commands.load(jobId), 0n);
      } catch {
        // the next event reconciles it
      }
      return 'refused';
    }
  }

  /** Runs `action` again later: after a second, or once the storage backoff's wait is over. */
  #later(action: () => void): void {
    const run = () => {
      if (!this.#abort.signal.aborted) action();
    };
    const backoffMs = this.#backoff.waitMs(this.#clock.now().getTime());
    if (backoffMs > 0) {
      this.#clock.setTimer(backoffMs, run);
      return;
    }
    const timer = setTimeout(run, RETRY_LATER_MS);
    timer.unref();
  }

  #now(): string {
    return this.#clock.now().toISOString();
  }
}
