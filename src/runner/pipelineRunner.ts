import type { Logger } from 'pino';
import type { JobCommand } from '../domain/commands.ts';
import type { JobEvent } from '../domain/events.ts';
import {
  hasRetriesLeft,
  nextStage,
  pendingGateDeadline,
  retryDueAt,
  runningStage,
  stageDefinition,
} from '../domain/jobDecider.ts';
import type { Config } from '../infra/config/configSchema.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import { followLog } from '../infra/eventstore/followLog.ts';
import type { JobCommandHandler } from '../infra/eventstore/jobCommandHandler.ts';
import { setLongTimeout } from '../infra/longTimeout.ts';
import { gateDeadlines } from './gateDeadline.ts';
import type { GateTimers } from './gateTimers.ts';
import type { QueueInfo } from './jobBook.ts';
import { JobBook } from './jobBook.ts';
import { recoverOrphans } from './orphanRecovery.ts';
import { QUEUE_FRONT_STREAM } from './queueFront.ts';
import type { QueueInfoPort } from './queueInfoPort.ts';
import { readQueueLog } from './queueLogItem.ts';
import type { RunnerClock } from './runnerClock.ts';
import { systemClock } from './runnerClock.ts';
import { RUNNER, RunnerCommands } from './runnerCommands.ts';
import { RunnerSteps } from './runnerSteps.ts';
import { serverEnvironment } from './stageCommands.ts';
import { StageLauncher } from './stageLauncher.ts';
import { requestResume, requestStart, type StartRequestContext } from './startRequest.ts';
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

/**
 * The process manager of DESIGN §7. It follows `$all` (job streams) from the start, folds every unfinished
 * job, and once caught up reconciles what the log says with what runs here: orphaned stages are failed
 * (`operator restarted`, retried per policy), gate deadlines are re-armed, lanes are filled. Then it reacts to
 * each new event. It keeps nothing the log cannot rebuild; every command it issues is decided on fresh state
 * with the expected revision, so a stale view can cost a refused command but never a double start.
 *
 * Work is done one step at a time (`RunnerSteps`: a command, a spawn, a reconciliation), so two steps never
 * race each other; stage processes (`StageLauncher`) run concurrently and report back through the same steps.
 */
export class PipelineRunner implements QueueInfoPort {
  readonly #store: EventStore;
  readonly #handler: JobCommandHandler;
  readonly #logger: Logger;
  readonly #clock: RunnerClock;
  readonly #lanes: number;
  readonly #killGraceMs: number;
  readonly #runsDir: string;
  readonly #book: JobBook;
  readonly #timers: GateTimers;
  /** Per job: the retry of a failed stage waiting for its `retry_delay`, and when it is due. */
  readonly #retries = new Map<string, { due: number; cancel: () => void }>();
  readonly #abort = new AbortController();
  readonly #steps: RunnerSteps;
  readonly #commands: RunnerCommands;
  readonly #stages: StageLauncher;
  readonly #loading = new Set<string>();
  #loop: Promise<void> | null = null;
  #recovered = false;
  #stopping: Promise<void> | null = null;
  #markReady!: () => void;
  /** Resolves once the runner has caught up with the log and dealt with the orphans it found. */
  readonly ready: Promise<void> = new Promise((resolve) => {
    this.#markReady = resolve;
  });

  constructor(options: PipelineRunnerOptions) {
    const { config, logger } = options;
    this.#store = options.store;
    this.#handler = options.commands;
    this.#logger = logger;
    this.#clock = options.clock ?? systemClock();
    this.#lanes = config.pipeline.lanes;
    this.#killGraceMs = config.pipeline.stage_kill_grace;
    this.#runsDir = config.storage.runs_dir;
    this.#book = new JobBook({ lanes: this.#lanes, gateHoldsLane: config.pipeline.gate_holds_lane });
    const signal = this.#abort.signal;
    this.#steps = new RunnerSteps({
      reconcile: (jobId) => this.#reconcile(jobId),
      fillLanes: () => this.#fillLanes(),
      signal,
      logger,
    });
    this.#commands = new RunnerCommands({
      commands: this.#handler,
      book: this.#book,
      backoff: new StorageBackoff(logger),
      clock: this.#clock,
      logger,
      signal,
      changed: (jobId) => this.#steps.touch(jobId),
    });
    this.#stages = new StageLauncher({
      store: this.#store,
      commands: this.#commands,
      steps: this.#steps,
      clock: this.#clock,
      logger,
      serverEnv: serverEnvironment(options.env ?? {}, config.runner.env_passthrough),
      runsDir: this.#runsDir,
      killGraceMs: this.#killGraceMs,
      maxLogBytes: config.runner.max_log_bytes,
    });
    this.#timers = gateDeadlines({
      book: this.#book,
      commands: this.#commands,
      steps: this.#steps,
      clock: this.#clock,
    });
  }

  /** Starts following the log in the background; returns at once. */
  start(): void {
    this.#loop ??= this.#follow().catch((error: unknown) =>
      this.#logger.error({ err: error }, 'runner: stopped following the log'),
    );
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
      this.#stages.stopAll('operator shutting down');
      await this.#loop;
      this.#timers.clearAll();
      for (const jobId of [...this.#retries.keys()]) this.#retryAt(jobId, null);
      await this.#steps.draining;
      // whatever the step in flight spawned meanwhile
      const children = this.#stages.stopAll('operator shutting down');
      await Promise.race([
        Promise.all(children.map((c) => c.process.done)),
        new Promise<void>((resolve) => setLongTimeout(resolve, this.#killGraceMs + 3000, { unref: true })),
      ]);
      this.#logger.info({ stopped_stages: children.length }, 'runner: stopped');
    })();
    return this.#stopping;
  }

  queueInfo(jobId: string): QueueInfo {
    return this.#book.queueInfo(jobId);
  }

  /** Lanes: the limit and how many are held now (running jobs, and paused ones when gates hold lanes). */
  laneUse(): { limit: number; occupied: number } {
    return { limit: this.#lanes, occupied: this.#book.occupied() };
  }

  /** `POST /jobs/{id}/start` without `force`: see {@link requestStart}. */
  requestStart(jobId: string, by: string, expectedSeq?: number) {
    return requestStart(this.#laneContext(), jobId, by, expectedSeq);
  }

  /** `POST /jobs/{id}/resume` without `force`: see {@link requestResume}. */
  requestResume(jobId: string, command: JobCommand, expectedSeq?: number) {
    return requestResume(this.#laneContext(), jobId, command, expectedSeq);
  }

  #laneContext(): StartRequestContext {
    return {
      store: this.#store,
      book: this.#book,
      commands: this.#commands,
      steps: this.#steps,
      lanes: this.#lanes,
      logger: this.#logger,
    };
  }

  /** Job streams, and the queue-front requests (`POST /jobs/{id}/start` without a free lane), from the start. */
  async #follow(): Promise<void> {
    const batches = followLog(this.#store, {
      from: 'start',
      filter: { streamNamePrefix: [JOB_STREAM_PREFIX, QUEUE_FRONT_STREAM] },
      signal: this.#abort.signal,
      decode: readQueueLog,
      onError: (error, retryInMs) =>
        this.#logger.error({ err: error, retry_in_ms: retryInMs }, 'runner: subscription failed, reopening'),
    });
    for await (const batch of batches) {
      for (const item of batch.events) {
        if (item.kind === 'job') this.#onEvent(item.event);
        else {
          this.#book.toFront(item.request.job_id, item.at, item.request.requested_by);
          this.#steps.lanesChanged();
        }
      }
      if (batch.caughtUp) this.#onCaughtUp();
    }
  }

  #onEvent(event: JobEvent): void {
    const applied = this.#book.apply(event);
    if (applied === 'gap') this.#load(event.job_id, BigInt(event.position));
    if (applied !== 'applied') return;
    const child = this.#stages.child(event.job_id);
    if (child && (event.type === 'job_canceled' || event.type === 'job_failed'))
      child.process.stop(event.type === 'job_canceled' ? 'job canceled' : 'job failed');
    this.#steps.touch(event.job_id);
  }

  #onCaughtUp(): void {
    if (!this.#recovered) {
      this.#recovered = true;
      this.#steps.push(async () => {
        await recoverOrphans({
          store: this.#store,
          book: this.#book,
          commands: this.#commands,
          clock: this.#clock,
          logger: this.#logger,
          runsDir: this.#runsDir,
          killGraceMs: this.#killGraceMs,
          runsHere: (jobId) => this.#stages.child(jobId) !== undefined,
        });
        this.#markReady();
      });
    }
    this.#steps.touchAll(this.#book.jobIds());
    this.#steps.open();
  }

  /** An event the book cannot fold (a finished job resumed): read the job's state from its stream. */
  #load(jobId: string, order: bigint): void {
    if (this.#loading.has(jobId)) return;
    this.#loading.add(jobId);
    this.#steps.push(async () => {
      try {
        this.#book.put(jobId, await this.#handler.load(jobId), order);
      } finally {
        this.#loading.delete(jobId);
      }
      this.#steps.touch(jobId);
    });
  }

  /** Brings one job in line with its state: stage process, gate timer, next stage. */
  async #reconcile(jobId: string): Promise<void> {
    const state = this.#book.get(jobId);
    const child = this.#stages.child(jobId);
    if (!state) {
      this.#timers.clear(jobId);
      this.#retryAt(jobId, null);
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
    // A retry waits for its delay (from the failed attempt's end in the log, so a restart keeps it).
    const due = next.status === 'failed' ? retryDueAt(state, next.name) : null;
    if (due !== null && due > this.#clock.now().getTime()) return this.#retryAt(jobId, due);
    this.#retryAt(jobId, null);
    await this.#stages.start(jobId, next.name);
  }

  /** Arms (or with null, clears) the job's retry timer; when it fires the job is reconciled again. */
  #retryAt(jobId: string, due: number | null): void {
    const armed = this.#retries.get(jobId);
    if (armed && armed.due === due) return;
    armed?.cancel();
    this.#retries.delete(jobId);
    if (due === null || this.#abort.signal.aborted) return;
    const cancel = this.#clock.setTimer(Math.max(0, due - this.#clock.now().getTime()), () => {
      this.#retries.delete(jobId);
      this.#steps.touch(jobId);
    });
    this.#retries.set(jobId, { due, cancel });
  }

  /** Starts queued jobs, oldest first, while a lane is free. */
  async #fillLanes(): Promise<void> {
    while (this.#book.occupied() < this.#lanes) {
      const jobId = this.#book.firstQueued();
      if (jobId === undefined) return;
      const requestedBy = this.#book.frontRequest(jobId);
      const result = await this.#commands.run(jobId, {
        type: 'start_job',
        actor: RUNNER,
        ts: this.#commands.now(),
        ...(requestedBy === undefined ? {} : { requested_by: requestedBy }),
      });
      if (result === 'failed') return this.#commands.later(() => this.#steps.touch(jobId));
      if (result === 'refused' && this.#book.firstQueued() === jobId) return;
    }
  }
}
