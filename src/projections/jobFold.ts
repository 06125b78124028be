import type { JobEvent } from '../domain/events.ts';
import { toCanonicalJson } from '../domain/events.ts';
import { evolve, initialState } from '../domain/jobDecider.ts';
import { type GateState, type JobState, ownGate } from '../domain/jobState.ts';
import { isSafeName } from '../infra/files/runsLayout.ts';
import type { JobSummary } from './jobSummary.ts';
import { toJobSummary } from './jobSummary.ts';

/** `runs/<id>/state.json`: the folded state, with the job id and the seq of the last event it reflects. */
export type StateFile = JobState & { job_id: string; seq: number };
/** `runs/<id>/gates/<gate>.json`: the gate's state, with the seq of the event that last changed it. */
export type GateFile = GateState & { job_id: string; seq: number };

export interface FoldResult {
  state: JobState;
  /**
   * Gates whose file must be (re)written, with the seq of the event that last changed each. A gate gets a
   * file from the moment it is first reached (leaves `pending`); a gate created `pending` has none. The
   * seq is that of the event, not of the batch, so the files do not depend on how events were batched.
   */
  gateWrites: Map<string, number>;
}

/** The gates before a job exists: what a job_created's gates are compared with. */
const NO_GATES: JobState['gates'] = initialState().gates;

/** Folds events (contiguous, in seq order) onto a state. Pure; the same for live projection and verify. */
export function foldEvents(state: JobState, events: readonly JobEvent[]): FoldResult {
  const gateWrites = new Map<string, number>();
  let current = state;
  for (const event of events) {
    const next = evolve(current, event);
    // A new job's life (evolve starts job_created from nothing) is compared with nothing before it.
    const before = event.type === 'job_created' ? NO_GATES : current.gates;
    // The fold keeps the gates object when no gate changed: most events compare nothing.
    if (next.gates !== before) noteGateChanges(before, next.gates, event.seq, gateWrites);
    current = next;
  }
  return { state: current, gateWrites };
}

export function foldJob(events: readonly JobEvent[]): FoldResult {
  return foldEvents(initialState(), events);
}

export function toStateFile(jobId: string, state: JobState): StateFile {
  return { ...state, job_id: jobId, seq: state.seq };
}

export function toGateFile(jobId: string, gate: GateState, seq: number): GateFile {
  return { ...gate, job_id: jobId, seq };
}

/** The bytes of a state or gate file: whole JSON, indented for people, with a final newline. */
export function fileJson(value: StateFile | GateFile): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

const serialised = new WeakMap<JobEvent, string>();

/**
 * `toCanonicalJson`, once per event object: the runner hands the same objects to every projection, so the
 * JSONL line and the read model row share one serialisation.
 */
export function canonicalJson(event: JobEvent): string {
  let json = serialised.get(event);
  if (json === undefined) {
    json = toCanonicalJson(event);
    serialised.set(event, json);
  }
  return json;
}

export function jsonlLine(event: JobEvent): string {
  return `${canonicalJson(event)}\n`;
}

export interface ExpectedJobFiles {
  /** `events.jsonl`, byte for byte. */
  jsonl: string;
  /** `state.json`, byte for byte; null for a job without events. */
  state: string | null;
  /** `gates/<name>.json`, byte for byte, by gate name. */
  gates: Record<string, string>;
}

/**
 * What the file projections must hold for a job, computed from all its events (in seq order): the base of
 * `verify`, which diffs it against `runs/<id>/`.
 */
export function expectedJobFiles(jobId: string, events: readonly JobEvent[]): ExpectedJobFiles {
  const { state, gateWrites } = foldJob(events);
  const gates: Record<string, string> = {};
  for (const [name, seq] of [...gateWrites].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const gate = ownGate(state.gates, name);
    if (gate && isSafeName(name)) gates[name] = fileJson(toGateFile(jobId, gate, seq));
  }
  return {
    jsonl: events.map(jsonlLine).join(''),
    state: events.length === 0 ? null : fileJson(toStateFile(jobId, state)),
    gates,
  };
}

export interface ExpectedReadModelJob {
  summary: JobSummary;
  state: JobState;
  /** The `events` rows, by seq. */
  events: string[];
}

/** What the read model must hold for a job, from all its events (in seq order); null without events. */
export function expectedReadModelJob(
  jobId: string,
  events: readonly JobEvent[],
): ExpectedReadModelJob | null {
  const last = events.at(-1);
  if (!last) return null;
  const { state } = foldJob(events);
  return { summary: toJobSummary(jobId, state, last), state, events: events.map(canonicalJson) };
}

function noteGateChanges(
  before: JobState['gates'],
  after: JobState['gates'],
  seq: number,
  gateWrites: Map<string, number>,
): void {
  for (const [name, gate] of Object.entries(after)) {
    const previous = before[name];
    if (gate === previous || (previous !== undefined && sameJson(gate, previous))) continue;
    if (previous === undefined && gate.status === 'pending') continue;
    gateWrites.set(name, seq);
  }
}

/**
 * Whether two values serialise to the same JSON text. A gate is a flat object of scalars: those are compared
 * key by key, in order; anything else is compared as text.
 */
function sameJson(a: object, b: object): boolean {
  const keys = Object.keys(a);
  const otherKeys = Object.keys(b);
  if (keys.length === otherKeys.length) {
    let i = 0;
    for (; i < keys.length; i++) {
      const key = keys[i] as string;
      if (key !== otherKeys[i]) break;
      const x = (a as Record<string, unknown>)[key];
      const y = (b as Record<string, unknown>)[key];
      if (!isJsonScalar(x) || !isJsonScalar(y)) break;
      if (x !== y) return false;
    }
    if (i === keys.length) return true;
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A value whose JSON text is the same for two values exactly when they are `===`. */
function isJsonScalar(value: unknown): boolean {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0))
  );
}
