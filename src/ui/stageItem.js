// One stage of the job page's timeline: its state, running time or duration, error and gate decision.
import { formatDuration, formatTime, h, statusBadge } from './dom.js';
import { displayStatus } from './jobTimeline.js';

/** @typedef {import('./jobTimeline.js').StageView} StageView */

/** @param {StageView} stage @param {number} now */
function stageTime(stage, now) {
  if (stage.status === 'running' && stage.started_at) {
    return h(
      'span',
      { class: 'stage-time', 'data-running-since': stage.started_at },
      `running for ${formatDuration(now - Date.parse(stage.started_at))}`,
    );
  }
  if (stage.started_at && stage.finished_at) {
    const ms = stage.duration_ms ?? Date.parse(stage.finished_at) - Date.parse(stage.started_at);
    return h(
      'span',
      { class: 'stage-time' },
      `${stage.status === 'failed' ? 'failed after' : 'took'} ${formatDuration(ms)}`,
    );
  }
  return null;
}

/** @param {StageView} stage */
function gateLine(stage) {
  const gate = stage.gate;
  if (!gate) return null;
  const text = {
    pending: `gate ${gate.name}: not reached yet`,
    paused: `gate ${gate.name}: waiting for a decision${gate.deadline ? ` until ${formatTime(gate.deadline)}` : ''}`,
    approved: `gate ${gate.name}: approved by ${gate.decided_by}`,
    auto_approved: `gate ${gate.name}: approved automatically at its deadline`,
    rejected: `gate ${gate.name}: rejected by ${gate.decided_by}`,
  }[gate.status];
  return h(
    'div',
    {
      class: `stage-gate gate-${gate.status}`,
      'data-gate': gate.name,
      'data-gate-status': gate.status,
      'data-decided-by': gate.decided_by,
    },
    h('span', {}, text ?? `gate ${gate.name}: ${gate.status}`),
    gate.decided_at ? h('span', { class: 'muted' }, ` at ${formatTime(gate.decided_at)}`) : null,
    gate.comment ? h('q', { class: 'gate-comment' }, gate.comment) : null,
  );
}

/** @param {StageView} stage @param {number} now */
export function stageItem(stage, now) {
  const status = displayStatus(stage);
  return h(
    'li',
    {
      class: `stage stage-${status}`,
      'data-stage': stage.name,
      'data-status': status,
      'data-stage-status': stage.status,
      'data-attempts': stage.attempts,
      'data-retry-at': stage.retry_at,
    },
    h(
      'div',
      { class: 'stage-head' },
      h('span', { class: 'stage-name' }, stage.name),
      statusBadge(status),
      stage.attempts > 1 ? h('span', { class: 'muted small' }, `attempt ${stage.attempts}`) : null,
      stageTime(stage, now),
    ),
    stage.status === 'failed' && stage.last_error ? h('p', { class: 'stage-error' }, stage.last_error) : null,
    stage.status === 'failed' && stage.retry_at
      ? h('p', { class: 'stage-retry muted' }, `next attempt at ${formatTime(stage.retry_at)}`)
      : null,
    gateLine(stage),
  );
}
