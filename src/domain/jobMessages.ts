import type { GateState } from './jobState.ts';
import type { PipelineDefinition } from './pipeline.ts';

/** 850ms, 2.1s, 3m 05s, 1h 02m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalSeconds = Math.round(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m ${pad(totalSeconds % 60)}s`;
  return `${Math.floor(totalSeconds / 3600)}h ${pad(Math.floor((totalSeconds % 3600) / 60))}m`;
}

/** `"text"` joined to a prefix with `: `, or the prefix alone when there is nothing to add. */
function withDetail(prefix: string, ...details: (string | null | undefined)[]): string {
  const text = details.filter((d): d is string => typeof d === 'string' && d.length > 0).join('; ');
  return text ? `${prefix}: ${text}` : prefix;
}

export const jobMessages = {
  created(jobId: string, actor: string, pipeline: PipelineDefinition): string {
    const names = pipeline.stages.map((s) => s.name).join(', ');
    return `job ${jobId} created by ${actor}: pipeline ${pipeline.name} (${pipeline.stages.length} stages: ${names})`;
  },
  started(actor: string): string {
    return `job started by ${actor}`;
  },
  stageStarted(stage: string, attempt: number, maxAttempts: number): string {
    if (attempt === 1) return `stage ${stage} started`;
    return `stage ${stage} started again (attempt ${attempt} of ${maxAttempts})`;
  },
  stageCompleted(stage: string, durationMs: number | null): string {
    return durationMs === null
      ? `stage ${stage} completed`
      : `stage ${stage} completed in ${formatDuration(durationMs)}`;
  },
  /** What happened to the stage, without the reason; also the cause quoted by a `job_failed` that follows. */
  stageFailure(stage: string, attempt: number, maxAttempts: number, willRetry: boolean): string {
    if (willRetry || attempt < maxAttempts) {
      const retry = willRetry ? '' : ', not retryable';
      return `stage ${stage} failed (attempt ${attempt} of ${maxAttempts}${retry})`;
    }
    return attempt > 1 ? `stage ${stage} failed after ${attempt} attempts` : `stage ${stage} failed`;
  },
  stageFailed(failure: string, reason: string, willRetry: boolean, retryDelayMs = 0): string {
    const retry =
      retryDelayMs > 0 ? `; it will be retried in ${formatDuration(retryDelayMs)}` : '; it will be retried';
    return `${withDetail(failure, reason)}${willRetry ? retry : ''}`;
  },
  gatePaused(gate: string, deadline: string | null, onTimeout: GateState['on_timeout']): string {
    if (deadline === null) return `job paused at gate ${gate}: waiting for a decision`;
    const then = {
      approve: 'then approve automatically',
      reject: 'then reject automatically',
      wait: 'then keep waiting',
    }[onTimeout];
    return `job paused at gate ${gate}: waiting for a decision until ${deadline}, ${then}`;
  },
  gateApproved(gate: string, actor: string, comment: string | null): string {
    return withDetail(`gate ${gate} approved by ${actor}`, comment);
  },
  gateAutoApproved(gate: string, actor: string, deadline: string | null): string {
    return withDetail(
      `gate ${gate} auto-approved by ${actor}`,
      deadline ? `deadline ${deadline} passed` : null,
    );
  },
  gateRejected(gate: string, actor: string, comment: string | null, reason: string | null): string {
    return withDetail(`gate ${gate} rejected by ${actor}`, comment, reason);
  },
  resumedAfterGate(gate: string): string {
    return `job resumed after gate ${gate}`;
  },
  rerun(stage: string, gate: string): string {
    return `job resumed: stage ${stage} will run again because gate ${gate} was rejected`;
  },
  resumedAfterFailure(actor: string, fromStage: string, reason: string | null): string {
    return withDetail(`job resumed by ${actor} from stage ${fromStage}`, reason);
  },
  completed(stageCount: number, durationMs: number | null): string {
    const stages = `all ${stageCount} ${stageCount === 1 ? 'stage' : 'stages'} done`;
    return durationMs === null
      ? `job completed: ${stages}`
      : `job completed: ${stages} in ${formatDuration(durationMs)}`;
  },
  failed(cause: string, reason: string | null): string {
    return withDetail(`job failed: ${cause}`, reason);
  },
  failedBy(actor: string, reason: string): string {
    return withDetail(`job failed by ${actor}`, reason);
  },
  canceled(actor: string, reason: string | null): string {
    return withDetail(`job canceled by ${actor}`, reason);
  },
  eventCap(max: number, refused: string, command: string): string {
    return `job failed: it reached max_events_per_job (${max}), so the ${refused} event of ${command} was refused`;
  },
};
