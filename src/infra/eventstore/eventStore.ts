/**
 * The event store port. Two adapters implement it (LMDB embedded, EventStoreDB) and both pass the
 * contract suite in `test/contract/`.
 *
 * Revisions are 0-based per stream (a JS number: a stream is capped far below 2^53).
 * Positions are global and leave the port as decimal strings: EventStoreDB's exceed 2^53.
 */
export interface EventStore {
  /** Appends atomically; resolves only once the events are durable. */
  append(stream: string, events: readonly EventData[], options?: AppendOptions): Promise<AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent>;
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent>;
  /** Catch-up subscription: history after `fromRevision` (exclusive), a `caught_up` item, then live events. */
  subscribeToStream(stream: string, options?: SubscribeToStreamOptions): Subscription;
  /** Catch-up subscription to `$all`: history after `fromPosition` (exclusive), `caught_up`, then live. */
  subscribeToAll(options?: SubscribeToAllOptions): Subscription;
  getStreamMetadata(stream: string): Promise<StreamMetadata>;
  setStreamMetadata(stream: string, metadata: StreamMetadata): Promise<void>;
  /** Soft-deletes a stream: its events disappear from reads; the stream may be written again later. */
  deleteStream(stream: string): Promise<void>;
  /** The position of the last event in the store, `'0'`... or `null` when the store is empty. */
  headPosition(): Promise<string | null>;
  close(): Promise<void>;
}

export type ExpectedRevision = 'no_stream' | 'any' | 'stream_exists' | number;

export interface EventData {
  id: string;
  type: string;
  data: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

export interface RecordedEvent {
  streamId: string;
  revision: number;
  position: string;
  id: string;
  type: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  /** ISO time the store recorded it. */
  created: string;
}

export interface AppendOptions {
  /** Default `any`. */
  expectedRevision?: ExpectedRevision;
}

export interface AppendResult {
  /** The revision of the last event written. */
  nextRevision: number;
  /** The position of the last event written. */
  position: string;
}

export type Direction = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  /** Inclusive; `'start'` (default for forwards) or `'end'` (default for backwards). */
  fromRevision?: number | 'start' | 'end';
  maxCount?: number;
  direction?: Direction;
}

export interface StreamFilter {
  /** Only streams whose name starts with one of these prefixes, e.g. `['job-']`. */
  streamNamePrefix?: readonly string[];
}

export interface ReadAllOptions {
  /** Inclusive; `'start'` (default for forwards) or `'end'` (default for backwards). */
  fromPosition?: string | 'start' | 'end';
  maxCount?: number;
  direction?: Direction;
  filter?: StreamFilter;
}

export interface SubscribeToStreamOptions {
  /** Exclusive: events with a revision greater than this. `'start'` (default) or `'end'` (live only). */
  fromRevision?: number | 'start' | 'end';
}

export interface SubscribeToAllOptions {
  /** Exclusive: events with a position greater than this. `'start'` (default) or `'end'` (live only). */
  fromPosition?: string | 'start' | 'end';
  filter?: StreamFilter;
}

export type SubscriptionItem =
  | { kind: 'event'; event: RecordedEvent }
  | { kind: 'caught_up'; position: string | null };

/**
 * Pulled by its consumer: the adapter reads the next batch only when asked, so a slow consumer slows only
 * itself and memory stays bounded.
 */
export interface Subscription extends AsyncIterable<SubscriptionItem> {
  close(): Promise<void>;
}

export interface StreamMetadata {
  /** Events older than this many seconds are no longer returned. */
  maxAge?: number;
  /** Only the latest this many events are returned. */
  maxCount?: number;
}

export const JOB_STREAM_PREFIX = 'job-';
export const jobStreamName = (jobId: string): string => `${JOB_STREAM_PREFIX}${jobId}`;
export const jobIdFromStream = (stream: string): string => stream.slice(JOB_STREAM_PREFIX.length);

/** The errors every adapter throws, whatever its backend: callers tell them apart by class or kind. */
export {
  EventStoreClosedError,
  EventStoreUnavailableError,
  InvalidEventStoreArgumentError,
  isEventStoreClosedError,
  isWrongExpectedRevisionError,
  StorageFullError,
  WrongExpectedRevisionError,
} from './storeErrors.ts';
