import type { FileHandle } from 'node:fs/promises';
import { lstat, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '../domain/jobDecider.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { openPrivateFile } from '../infra/files/privateFile.ts';
import type { StagePaths } from '../infra/files/runsLayout.ts';
import { setLongTimeout } from '../infra/longTimeout.ts';
import { signalGroup, waitForGroupExit } from './processGroup.ts';
import { StageLog } from './stageLog.ts';
import { displayName, prepareStageRunDir } from './stageRunDir.ts';
import type { Exit, SpawnedStage } from './stageSpawner.ts';
import { stageSpawner } from './stageSpawner.ts';

export interface StageCommand {
  jobId: string;
  stage: string;
  attempt: number;
  /** The seq of the attempt's `stage_started`: names its log stream. */
  startedSeq: number;
  /** Where the attempt's log records go. */
  store: EventStore;
  /** `runner.max_log_bytes`. */
  maxLogBytes: number;
  /** The stage's `run`, given to `/bin/sh -c`. */
  run: string;
  paths: StagePaths;
  /** The whole environment of the command (`stageEnvironment`): nothing else of the server's is passed. */
  env: Readonly<Record<string, string>>;
  /** The job's params as JSON, written to `paths.paramsFile` before the command starts. */
  paramsJson: string;
  /** Told once if the stage log cannot be written (a full store); the attempt runs on, its output dropped. */
  onLogWriteError?: (error: Error) => void;
  /** `stage.timeout`; null: no limit. */
  timeoutMs: number | null;
  /** `pipeline.stage_kill_grace`: SIGTERM, then SIGKILL after this long. */
  killGraceMs: number;
  now: () => Date;
}

export interface StageOutcome {
  ok: boolean;
  pid: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Why the runner stopped it (cancel, shutdown), or null when it ended by itself or timed out. */
  stoppedFor: string | null;
  durationMs: number;
  /** Why it failed, for `fail_stage`; empty when it succeeded. */
  reason: string;
  /** The last output lines. */
  tail: string[];
}

/** How long stdout/stderr may stay open after the command exited (a background process holding them). */
const STDIO_LINGER_MS = 1000;
/** How long a group may take to vanish after SIGKILL (the kernel's part) before it is reported. */
const AFTER_KILL_WAIT_MS = 2000;

/**
 * One attempt of a stage command: `/bin/sh -c <run>` in its own process group (detached), in the job's work
 * dir, its output line-timestamped into the stage log. The group id is written to the stage's pid file while
 * it runs, so that an operator restarted after a crash can find and end it. Nothing of the group outlives
 * the attempt: whatever the command leaves behind is ended with it.
 */
export class StageProcess {
  readonly done: Promise<StageOutcome>;
  #stoppedFor: string | null = null;
  /** When the group got SIGTERM, plus the grace: when SIGKILL is due (null: never signalled). */
  #killAt: number | null = null;
  #timedOut = false;
  #exited = false;

  private constructor(
    readonly pid: number,
    private readonly command: StageCommand,
    private readonly log: StageLog,
    startedNs: bigint,
    exited: Promise<Exit>,
    stdioClosed: Promise<unknown>,
    dropStdio: () => void,
  ) {
    const cancelTimeout =
      command.timeoutMs === null
        ? null
        : setLongTimeout(() => {
            this.#timedOut = true;
            this.#terminate(`timed out after ${formatDuration(command.timeoutMs ?? 0)}`);
          }, command.timeoutMs);
    this.done = (async () => {
      const { code, signal, atNs } = await exited;
      this.#exited = true;
      const durationMs = Math.round(Number(atNs - startedNs) / 1e6);
      cancelTimeout?.();
      await Promise.race([stdioClosed, sleep(STDIO_LINGER_MS)]);
      dropStdio();
      this.log.flushPartialLines();
      this.#endLeftovers();
      // The pid file goes only with the whole group: while any of it runs, a restart must find it.
      if (await this.#groupGone()) await removePidFile(command.paths);
      else this.log.line('runner', `process group ${this.pid} outlived SIGKILL; its pid file stays`);
      const outcome = this.#outcome(code, signal, durationMs);
      this.log.line(
        'runner',
        outcome.ok
          ? `exit code 0 after ${formatDuration(durationMs)}`
          : `failed after ${formatDuration(durationMs)}: ${outcome.reason}`,
      );
      await this.log.close().catch(() => {});
      return outcome;
    })();
  }

  /**
   * Starts the command; rejects when it cannot be started at all (the reason written to the log when the
   * log could be opened). The run dir, the params file, the log and the pid file are all readied before
   * the spawn: a refusal (a planted link, a full disk) never leaves a command running unsupervised.
   *
   * A log that cannot be opened safely fails the attempt rather than running it with its output dropped:
   * a command nobody can read the output of cannot be reviewed at its gate nor audited afterwards, and a
   * link planted in `logs/` means an earlier stage of the job is hostile or broken, so stopping is the
   * conservative answer. Retries follow the stage's policy; the `stage_failed` reason names the file.
   */
  static async start(command: StageCommand): Promise<StageProcess> {
    const { paths } = command;
    await prepareStageRunDir(paths, command.paramsJson);
    // Unwritten output past a bound pauses the pipes: the command then blocks on its writes, memory stays bounded.
    const pipes: { pause(): void; resume(): void; discardOutput(): void }[] = [];
    const log = await StageLog.open({
      store: command.store,
      jobId: command.jobId,
      stage: command.stage,
      attempt: command.attempt,
      startedSeq: command.startedSeq,
      maxLogBytes: command.maxLogBytes,
      now: command.now,
      file: paths.log,
      label: displayName(paths, paths.log),
      onPressure: (high) => {
        for (const pipe of pipes)
          if (high) pipe.pause();
          else pipe.resume();
      },
      // Past runner.max_log_bytes the spawning thread drops the output itself (the command runs on).
      onCut: () => {
        for (const pipe of pipes) pipe.discardOutput();
      },
      ...(command.onLogWriteError ? { onWriteError: command.onLogWriteError } : {}),
    });
    let pidFile: FileHandle;
    try {
      pidFile = await openPrivateFile(paths.pidFile, 'write', displayName(paths, paths.pidFile));
    } catch (error) {
      log.line('runner', `cannot start: ${(error as Error).message}`);
      await log.close();
      throw error;
    }
    log.line(
      'runner',
      `attempt ${command.attempt} of stage ${command.stage}: /bin/sh -c ${JSON.stringify(command.run)}`,
    );
    let child: SpawnedStage;
    try {
      child = await stageSpawner.spawn({
        run: command.run,
        cwd: paths.workDir,
        env: command.env,
        onOutput: (stream, chunk) => log.write(stream, chunk),
        // Written by the spawning thread the moment the fork returns, so a crash right after the spawn
        // still leaves the group findable.
        pidFile: {
          fd: pidFile.fd,
          record: {
            job_id: command.jobId,
            stage: command.stage,
            attempt: command.attempt,
            started_at: command.now().toISOString(),
          },
        },
      });
    } catch (error) {
      log.line('runner', `cannot start: ${(error as Error).message}`);
      await pidFile.close().catch(() => {});
      await rm(paths.pidFile, { force: true }).catch(() => {});
      await log.close();
      throw error;
    }
    const pid = child.pid;
    // The command runs and is supervised; only a restart after a crash could not find it.
    if (child.pidFileError) log.line('runner', `cannot write the pid file: ${child.pidFileError}`);
    void pidFile.close().catch(() => {});
    log.line('runner', `running as process group ${pid}`);
    pipes.push(child);
    return new StageProcess(pid, command, log, child.startedNs, child.exited, child.closed, () =>
      child.dropStdio(),
    );
  }

  /** True once `stop` was called or the timeout hit: the process is on its way out. */
  get stopping(): boolean {
    return this.#stoppedFor !== null || this.#timedOut;
  }

  /** Ends the attempt for `reason` (cancel, shutdown): SIGTERM to the group, SIGKILL after the grace. */
  stop(reason: string): void {
    if (this.stopping || this.#exited) return;
    this.#stoppedFor = reason;
    this.#terminate(reason);
  }

  #terminate(why: string): void {
    const grace = this.command.killGraceMs;
    this.log.line(
      'runner',
      `${why}: SIGTERM to process group ${this.pid}, SIGKILL after ${formatDuration(grace)}`,
    );
    this.#killAt ??= Date.now() + grace;
    signalGroup(this.pid, 'SIGTERM');
    setLongTimeout(() => signalGroup(this.pid, 'SIGKILL'), grace, { unref: true });
  }

  /** The command exited; anything it started in its group and left running is ended too. */
  #endLeftovers(): void {
    if (!signalGroup(this.pid, 0)) return;
    if (!this.stopping) this.log.line('runner', `ending what the command left running in group ${this.pid}`);
    this.#killAt ??= Date.now() + this.command.killGraceMs;
    signalGroup(this.pid, 'SIGTERM');
  }

  /**
   * Waits until no process of the group is left, and sends the SIGKILL itself once the grace is over: `done`
   * (which a shutdown awaits) must not resolve while a process that ignored SIGTERM still runs, or the
   * server would exit before its kill and the retry run beside it. False when some outlive even SIGKILL.
   */
  async #groupGone(): Promise<boolean> {
    if (this.#killAt === null) return true;
    if (await waitForGroupExit(this.pid, Math.max(0, this.#killAt - Date.now()))) return true;
    signalGroup(this.pid, 'SIGKILL');
    return waitForGroupExit(this.pid, AFTER_KILL_WAIT_MS);
  }

  #outcome(code: number | null, signal: NodeJS.Signals | null, durationMs: number): StageOutcome {
    const ok = code === 0 && !this.stopping;
    const reason = ok
      ? ''
      : this.#stoppedFor !== null
        ? this.#stoppedFor
        : this.#timedOut
          ? `timed out after ${formatDuration(this.command.timeoutMs ?? 0)}`
          : code !== null
            ? `exit code ${code}`
            : `killed by ${signal ?? 'a signal'}`;
    return {
      ok,
      pid: this.pid,
      exitCode: code,
      signal,
      timedOut: this.#timedOut,
      stoppedFor: this.#stoppedFor,
      durationMs,
      reason,
      tail: this.log.tail,
    };
  }
}

/** The pid file, removed only from a real logs/ directory: never through a link a stage put there. */
async function removePidFile(paths: StagePaths): Promise<void> {
  const logs = await lstat(paths.logsDir).catch(() => null);
  if (logs?.isDirectory()) await rm(paths.pidFile, { force: true }).catch(() => {});
}
