import { type Database, open, type RootDatabase } from 'lmdb';
import type { StreamState } from './streamState.ts';

/**
 * One LMDB environment, three named databases (see docs/decisions/0001):
 * - `events`: position (number) -> the stored event as JSON; the global log, scanned in key order.
 * - `streamIndex`: [stream, revision] -> position; one stream's events are a contiguous key range.
 * - `streams`: stream -> {@link StreamState} (last revision, soft-delete mark, retention metadata).
 */
export interface LmdbLayout {
  root: RootDatabase;
  events: Database<string, number>;
  streamIndex: Database<number, [string, number]>;
  streams: Database<StreamState, string>;
}

/**
 * Durable commits: LMDB's own synchronous commit (data pages fdatasync'ed, then the meta page written
 * synchronously) runs before lmdb-js resolves a write. `overlappingSync` (lmdb-js's default off Windows)
 * would resolve on commit and flush afterwards, letting readers see events that power loss could take back.
 * Child transactions (per-append rollback) need `useWritemap: false`. Every process opening the
 * environment must use these same settings.
 */
export const DURABLE_ENV_OPTIONS = {
  overlappingSync: false,
  noSync: false,
  noMetaSync: false,
  useWritemap: false,
  eventTurnBatching: true,
  commitDelay: 0,
} as const;

export function openLmdbLayout(path: string): LmdbLayout {
  const root = open({ path, ...DURABLE_ENV_OPTIONS, maxDbs: 8 });
  return {
    root,
    events: root.openDB<string, number>({ name: 'events', encoding: 'string' }),
    streamIndex: root.openDB<number, [string, number]>({ name: 'streamIndex', encoding: 'msgpack' }),
    streams: root.openDB<StreamState, string>({ name: 'streams', encoding: 'msgpack' }),
  };
}

/** The last position in the log (inside a write transaction: including its own writes). */
export function readHead(layout: LmdbLayout): number | undefined {
  for (const key of layout.events.getKeys({ reverse: true, limit: 1 })) return key;
  return undefined;
}

export const streamStateOf = (layout: LmdbLayout, stream: string): StreamState | undefined =>
  layout.streams.get(stream);
