import type { NameStyle } from '../domain/eventNames.ts';
import { EVENT_TYPES, NAME_STYLES, renderEventJson } from '../domain/eventNames.ts';
import type { JobEvent } from '../domain/events.ts';
import type { PositionLimit } from '../infra/eventstore/positionLimits.ts';
import { usageError } from './cliError.ts';

/** `--type a,b` as a set, every name checked against the event types. */
export function parseTypes(value: string | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const types = value
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const unknown = types.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0)
    throw usageError(`unknown event type(s): ${unknown.join(', ')} (known: ${EVENT_TYPES.join(', ')})`);
  return new Set(types);
}

export function parseSeq(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || Number(value) < -1)
    throw usageError(`${option} must be a seq (an integer >= -1)`);
  return Number(value);
}

export function parseSince(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Number.isNaN(Date.parse(value)) || !/^\d{4}-\d{2}-\d{2}T/.test(value))
    throw usageError('--since must be an ISO date-time, e.g. 2026-11-24T10:00:00Z');
  return value;
}

/** A store position, checked against the limit of the store it is for (`MAX_POSITION`). */
export function parsePosition(
  value: string | undefined,
  option: string,
  limit: PositionLimit,
): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || BigInt(value) > limit.value)
    throw usageError(
      `${option} must be a store position: a decimal number from 0 to ${limit.value} (${limit.text}, this store's limit)`,
    );
  return value.replace(/^0+(?=\d)/, '');
}

/** Client-side filters shared by read, tail and replay. */
export function eventFilter(
  types: Set<string> | undefined,
  stage: string | undefined,
): (e: JobEvent) => boolean {
  return (e) => (!types || types.has(e.type)) && (stage === undefined || e.stage === stage);
}

/** `--names canonical|alias`: the field names of `--json` output (alias: `timestamp`, `event_type`, `metadata`). */
export function parseNames(value: string | undefined): NameStyle {
  if (value === undefined) return 'canonical';
  if (!(NAME_STYLES as readonly string[]).includes(value))
    throw usageError(`--names must be one of ${NAME_STYLES.join(', ')}`);
  return value as NameStyle;
}

export const NAMES_HELP =
  'with --json: field names, canonical (ts, type, payload) or alias (timestamp, event_type, metadata)';

/** One NDJSON line of an event in the asked names. */
export function jsonLine(canonicalJson: string, names: NameStyle): string {
  return `${renderEventJson(canonicalJson, names)}\n`;
}
