import { DomainRuleError, InvalidCommandError, NotFoundError } from './errors.ts';
import { isJobTerminal, jobExists, stageState } from './jobPredicates.ts';
import { type GateState, type JobState, ownGate, type StageState } from './jobState.ts';

export function assertJobExists(state: JobState): void {
  if (!jobExists(state)) throw new NotFoundError('job_not_found', 'job not found');
}

export function assertNotTerminal(state: JobState): void {
  if (isJobTerminal(state))
    throw new DomainRuleError('job_terminal', `job is ${state.status} and accepts no command`, {
      status: state.status,
    });
}

export function requireStage(state: JobState, stage: string): StageState {
  const found = stageState(state, stage);
  if (!found)
    throw new InvalidCommandError('unknown_stage', `pipeline ${pipelineName(state)} has no stage ${stage}`, {
      stage,
      stages: state.stages.map((s) => s.name),
    });
  return found;
}

/**
 * A stage with a `run` command belongs to the runner: an external worker starting, completing or failing it
 * would leave it "running" with no process behind it, or end a process the runner still supervises.
 */
export function assertWorkerMayReport(state: JobState, stage: string, worker: boolean | undefined): void {
  if (!worker) return;
  const definition = state.pipeline?.stages.find((s) => s.name === stage);
  if (definition?.run !== undefined)
    throw new DomainRuleError(
      'stage_run_by_runner',
      `stage ${stage} has a run command: the runner owns it, so workers may not report it`,
      { stage },
    );
}

export function requireGate(state: JobState, gate: string): GateState {
  const found = ownGate(state.gates, gate);
  if (!found)
    throw new InvalidCommandError('unknown_gate', `pipeline ${pipelineName(state)} has no gate ${gate}`, {
      gate,
      gates: Object.keys(state.gates),
    });
  return found;
}

export function assertValidTime(ts: string): void {
  if (Number.isNaN(Date.parse(ts)))
    throw new InvalidCommandError('invalid_ts', `command time ${JSON.stringify(ts)} is not an ISO date`);
}

function pipelineName(state: JobState): string {
  return state.pipeline?.name ?? '(none)';
}
