/**
 * The names and rules of the event catalogue that need no schema library: what a client-side command (the
 * CLI talking to a server) checks and renders, so that it starts without loading the schemas.
 * `events.ts` re-exports all of it.
 */

/** The 13 event types that are stored. `heartbeat` exists only on the SSE wire. */
export const EVENT_TYPES = [
  'job_created',
  'job_started',
  'stage_started',
  'stage_completed',
  'stage_failed',
  'gate_pause',
  'gate_approved',
  'gate_rejected',
  'gate_auto_approved',
  'job_completed',
  'job_failed',
  'job_canceled',
  'job_resumed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const JOB_STATUSES = ['queued', 'running', 'paused', 'completed', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * Ids and names a client or a config may introduce (job ids, pipeline, stage and gate names): they end up in
 * paths and in arguments of scripts, so they start with a letter or digit and never read as an option
 * (`--help`) or a hidden file.
 */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * The seed's alias names: `timestamp`, `event_type` and `metadata` stand for `ts`, `type` and `payload`.
 * Input accepts either name; output uses the canonical ones unless a reader asks for the aliases.
 */
export const EVENT_ALIASES = { ts: 'timestamp', type: 'event_type', payload: 'metadata' } as const;
export type AliasedField = keyof typeof EVENT_ALIASES;

/** Which names a reader gets: the canonical ones, or the seed's aliases (`names=alias`). */
export const NAME_STYLES = ['canonical', 'alias'] as const;
export type NameStyle = (typeof NAME_STYLES)[number];

/**
 * An event's JSON under the alias names: same fields, same order, same value bytes; only the three keys
 * differ. Works on any JSON object with canonical keys (events, heartbeats).
 */
export function toAliasJson(canonicalJson: string): string {
  const parsed = JSON.parse(canonicalJson) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed))
    out[Object.hasOwn(EVENT_ALIASES, key) ? EVENT_ALIASES[key as AliasedField] : key] = value;
  return JSON.stringify(out);
}

/** The JSON a reader asked for: canonical as stored, or renamed to the aliases. */
export function renderEventJson(canonicalJson: string, names: NameStyle): string {
  return names === 'alias' ? toAliasJson(canonicalJson) : canonicalJson;
}
