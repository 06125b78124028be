import type { RecordedEvent as EsdbRecordedEvent, Position, ResolvedEvent } from '@eventstore/db-client';
import type { RecordedEvent } from '../eventStore.ts';
import { formatPosition } from './positions.ts';

/**
 * System streams and event types start with `$` (docs: Server › Features › Streams › "System events and
 * streams"): metadata (`$metadata` in `$$<stream>`), tombstones (`$streamDeleted`), users, settings,
 * projections. The operator never writes such names, so readers of `$all` skip them.
 */
export const isSystemEvent = (e: { streamId: string; type: string }): boolean =>
  e.streamId.startsWith('$') || e.type.startsWith('$');

const asRecord = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
    ? (v as Record<string, unknown>)
    : {};

/** The event a resolved event carries, with its position; `undefined` for an unresolvable link. */
export function recordedOf(
  resolved: ResolvedEvent,
): (EsdbRecordedEvent & { position: Position }) | undefined {
  const event = resolved.event;
  if (!event) return undefined;
  const position =
    event.position ??
    (resolved.commitPosition === undefined
      ? undefined
      : { commit: resolved.commitPosition, prepare: resolved.commitPosition });
  if (!position) throw new Error(`event ${event.id} of ${event.streamId} came without a position`);
  return { ...event, position };
}

/** The port's view of an event: JSON data and metadata as objects (`{}` when absent or binary). */
export const toPortEvent = (event: EsdbRecordedEvent & { position: Position }): RecordedEvent => ({
  streamId: event.streamId,
  revision: Number(event.revision),
  position: formatPosition(event.position),
  id: event.id,
  type: event.type,
  data: asRecord(event.data),
  metadata: asRecord(event.metadata),
  created: event.created.toISOString(),
});
