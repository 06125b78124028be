import type { ApproveGate, AutoApproveGate, RejectGate } from './commands.ts';
import { jobCompleted } from './decideStage.ts';
import { DomainRuleError } from './errors.ts';
import type { NewJobEvent } from './events.ts';
import { requireGate } from './jobGuards.ts';
import { jobMessages } from './jobMessages.ts';
import { gateDefinition, isGateDecided, isLastStage, isPausedAt } from './jobPredicates.ts';
import type { GateState, JobState } from './jobState.ts';
import { newJobEvent } from './newJobEvent.ts';

export function decideApproveGate(command: ApproveGate, state: JobState): NewJobEvent[] {
  const gate = requirePausedGate(state, command.gate);
  const comment = command.comment ?? null;
  const approved = newJobEvent(command, 'gate_approved', {
    stage: gate.stage,
    status: 'paused',
    message: jobMessages.gateApproved(gate.name, command.actor, comment),
    payload: { ...command.payload, gate: gate.name, comment, by_timer: false },
  });
  return [approved, ...resumeAfterApproval(command, state, gate)];
}

export function decideAutoApproveGate(command: AutoApproveGate, state: JobState): NewJobEvent[] {
  const gate = requirePausedGate(state, command.gate);
  const approved = newJobEvent(command, 'gate_auto_approved', {
    stage: gate.stage,
    status: 'paused',
    message: jobMessages.gateAutoApproved(gate.name, command.actor, gate.deadline),
    payload: { gate: gate.name, by_timer: true, deadline: gate.deadline },
  });
  return [approved, ...resumeAfterApproval(command, state, gate)];
}

export function decideRejectGate(command: RejectGate, state: JobState): NewJobEvent[] {
  const gate = requirePausedGate(state, command.gate);
  const comment = command.comment ?? null;
  const reason = command.reason ?? null;
  const byTimer = command.by_timer === true;
  const rejection = jobMessages.gateRejected(gate.name, command.actor, comment, reason);
  const onReject = gateDefinition(state, gate.name)?.gate.on_reject ?? 'fail';
  const rejected = newJobEvent(command, 'gate_rejected', {
    stage: gate.stage,
    status: 'paused',
    message: rejection,
    payload: { ...command.payload, gate: gate.name, comment, reason, by_timer: byTimer, on_reject: onReject },
  });
  if (onReject === 'rerun')
    return [
      rejected,
      newJobEvent(command, 'job_resumed', {
        stage: gate.stage,
        status: 'running',
        message: jobMessages.rerun(gate.stage, gate.name),
        payload: { after_gate: gate.name, from_stage: gate.stage },
      }),
    ];
  return [
    rejected,
    newJobEvent(command, 'job_failed', {
      stage: gate.stage,
      status: 'failed',
      message: `job failed: ${rejection}`,
      payload: {
        reason: reason ?? comment ?? `gate ${gate.name} rejected`,
        code: 'gate_rejected',
        stage: gate.stage,
        gate: gate.name,
        by: command.actor,
        comment,
      },
    }),
  ];
}

function resumeAfterApproval(
  command: ApproveGate | AutoApproveGate,
  state: JobState,
  gate: GateState,
): NewJobEvent[] {
  const resumed = newJobEvent(command, 'job_resumed', {
    stage: gate.stage,
    status: 'running',
    message: jobMessages.resumedAfterGate(gate.name),
    payload: { after_gate: gate.name },
  });
  return isLastStage(state, gate.stage) ? [resumed, jobCompleted(command, state)] : [resumed];
}

/** A decision is taken once per pause: a gate already decided is a conflict, any other gate is not paused. */
function requirePausedGate(state: JobState, name: string): GateState {
  const gate = requireGate(state, name);
  if (isPausedAt(state, name)) return gate;
  if (isGateDecided(gate))
    throw new DomainRuleError(
      'gate_already_decided',
      `gate ${name} was already ${gate.status.replace('_', '-')} by ${gate.decided_by} at ${gate.decided_at}`,
      { gate: name, status: gate.status, decided_by: gate.decided_by, decided_at: gate.decided_at },
    );
  const where = state.paused_gate
    ? `the job is paused at gate ${state.paused_gate}`
    : `the job is ${state.status}`;
  throw new DomainRuleError('gate_not_paused', `gate ${name} is not waiting for a decision: ${where}`, {
    gate: name,
    status: gate.status,
    paused_gate: state.paused_gate,
  });
}
