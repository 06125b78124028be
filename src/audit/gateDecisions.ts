import type { EventType, JobEvent } from '../domain/events.ts';
import { payloadOf } from '../domain/payloadOf.ts';

/** The events that record a gate decision. */
export const GATE_DECISION_TYPES = [
  'gate_approved',
  'gate_rejected',
  'gate_auto_approved',
] as const satisfies readonly EventType[];

export type GateDecisionKind = 'approved' | 'rejected' | 'auto_approved';

/** One row of the gate audit: who decided what, when. */
export interface GateDecision {
  position: string;
  event_id: string;
  job_id: string;
  pipeline: string | null;
  stage: string | null;
  gate: string;
  decision: GateDecisionKind;
  actor: string;
  comment: string | null;
  reason: string | null;
  time: string;
  /** Decided by the gate's timeout, not by a person. */
  by_timer: boolean;
}

const DECISIONS: Record<(typeof GATE_DECISION_TYPES)[number], GateDecisionKind> = {
  gate_approved: 'approved',
  gate_rejected: 'rejected',
  gate_auto_approved: 'auto_approved',
};

export const isGateDecisionEvent = (e: JobEvent): e is JobEvent & { type: keyof typeof DECISIONS } =>
  Object.hasOwn(DECISIONS, e.type);

export function toGateDecision(
  event: JobEvent & { type: keyof typeof DECISIONS },
  pipeline: string | null,
): GateDecision {
  // The three decisions share `gate`, `comment` and `by_timer`; only a rejection has a `reason`.
  const p = payloadOf(event, 'gate_approved');
  const reason = event.type === 'gate_rejected' ? payloadOf(event, 'gate_rejected').reason : undefined;
  return {
    position: event.position,
    event_id: event.id,
    job_id: event.job_id,
    pipeline,
    stage: event.stage,
    gate: p.gate ?? event.stage ?? '',
    decision: DECISIONS[event.type],
    actor: event.actor,
    comment: p.comment ?? null,
    reason: reason ?? null,
    time: event.ts,
    by_timer: p.by_timer === true || event.type === 'gate_auto_approved',
  };
}

export const GATE_DECISION_COLUMNS = [
  'time',
  'job_id',
  'pipeline',
  'stage',
  'gate',
  'decision',
  'actor',
  'by_timer',
  'comment',
  'reason',
  'position',
  'event_id',
] as const satisfies readonly (keyof GateDecision)[];

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF, or leading/trailing spaces,
 * quotes doubled; null is empty. Values are not altered otherwise (no formula escaping: the CSV is a record).
 */
export function csvField(value: string | boolean | null): string {
  if (value === null) return '';
  const s = String(value);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A CSV record with its CRLF line end (RFC 4180). */
export function csvRecord(values: readonly (string | boolean | null)[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

export const gateDecisionCsvHeader = (): string => csvRecord(GATE_DECISION_COLUMNS);

export const gateDecisionCsvRow = (d: GateDecision): string =>
  csvRecord(GATE_DECISION_COLUMNS.map((column) => d[column]));
