import type { EventType, Payload } from './events.ts';

/**
 * The schema version of each event type's payload, as the decider writes it now. A stored event records its
 * type's version in the store's metadata (`schema_version`), never in the wire payload; an event stored
 * before versions existed is version 1. See docs/decisions/0013-event-versions-and-upcasting.md.
 */
export const EVENT_VERSIONS = {
  job_created: 1,
  job_started: 1,
  stage_started: 1,
  stage_completed: 1,
  stage_failed: 1,
  gate_pause: 1,
  gate_approved: 1,
  gate_auto_approved: 1,
  gate_rejected: 1,
  job_completed: 1,
  job_failed: 1,
  job_canceled: 1,
  job_resumed: 2,
} as const satisfies Record<EventType, number>;

/** The version an event stored without one has: the shapes written before versions were recorded. */
export const FIRST_EVENT_VERSION = 1;

/** One version step of one type's payload: pure, takes version `n` and returns version `n + 1`. */
export type Upcaster = (payload: Payload) => Payload;

/**
 * `job_resumed` 1 -> 2: the stage a rerun rejection sends back to the start was `rerun`; it is `from_stage`,
 * the name a resume after a failure always gave the same thing.
 */
export const rerunToFromStage: Upcaster = (payload) => {
  const { rerun, ...rest } = payload;
  return typeof rerun === 'string' ? { ...rest, from_stage: rerun } : payload;
};

/** `UPCASTERS[type][n]` turns version `n` of that type's payload into version `n + 1`. */
export const UPCASTERS: Partial<Record<EventType, Readonly<Record<number, Upcaster>>>> = {
  job_resumed: { 1: rerunToFromStage },
};

/** The version a stored event's metadata records, or the first version when it records none. */
export function storedVersion(metadata: Readonly<Record<string, unknown>>): number {
  const version = metadata['schema_version'];
  return typeof version === 'number' && Number.isInteger(version) && version >= 1
    ? version
    : FIRST_EVENT_VERSION;
}

/**
 * A stored payload brought to its type's current version, one step at a time. A type this version does not
 * know, or a payload from a newer version (a rollback), is returned unchanged: folds are total either way.
 */
export function upcastPayload(
  type: string,
  version: number,
  payload: Payload,
  upcasters: typeof UPCASTERS = UPCASTERS,
  versions: Readonly<Record<string, number>> = EVENT_VERSIONS,
): Payload {
  const current = versions[type];
  if (current === undefined) return payload;
  const steps = upcasters[type as EventType] ?? {};
  let out = payload;
  for (let v = version; v < current; v++) {
    const step = steps[v];
    if (!step) throw new Error(`no upcaster for ${type} from version ${v} to ${v + 1}`);
    out = step(out);
  }
  return out;
}
