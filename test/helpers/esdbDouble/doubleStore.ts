import type { CommitDecision, ExpectedVersion, StreamFacts } from './commitCheck.ts';
import { checkCommit } from './commitCheck.ts';
import type { DoubleStreamMetadata } from './streamMetadata.ts';
import {
  DELETED_STREAM,
  EMPTY_METADATA,
  isMetastream,
  METASTREAM_METADATA,
  metastreamOf,
  originalStreamOf,
  parseStreamMetadata,
  serializeStreamMetadata,
} from './streamMetadata.ts';

/** One event in the double's log. Commit and prepare positions are equal, as for every gRPC append. */
export interface DoubleRecord {
  position: bigint;
  /** Where the next record starts: the post-position backwards reads of `$all` compare against. */
  nextPosition: bigint;
  streamId: string;
  revision: bigint;
  eventId: string;
  type: string;
  isJson: boolean;
  data: Uint8Array;
  metadata: Uint8Array;
  createdMs: number;
}

export interface ProposedEvent {
  eventId: string;
  type: string;
  isJson: boolean;
  data: Uint8Array;
  metadata: Uint8Array;
}

export type WriteResult =
  | { kind: 'success'; lastRevision: bigint; position: bigint | null }
  | { kind: 'wrong_expected_version'; current: bigint }
  | { kind: 'stream_deleted' };

export type StreamReadResult =
  | { kind: 'events'; records: DoubleRecord[] }
  | { kind: 'not_found' }
  | { kind: 'deleted' };

export interface DoubleStoreOptions {
  /**
   * Where the log starts. Not a server setting: a test lever so that positions past 2^53 (a large or
   * long-lived database) flow through the adapter under test. Default 0.
   */
  firstPosition?: bigint;
  /** The clock `created` and `$maxAge` use; tests move it instead of sleeping. */
  now?: () => number;
}

interface StreamState {
  records: DoubleRecord[];
  tombstone: DoubleRecord | null;
}

type Listener = (records: readonly DoubleRecord[]) => void;

/** Size of a prepare record on disk: a fixed header plus the variable parts (PrepareLogRecord layout). */
const recordSize = (streamId: string, e: ProposedEvent): bigint =>
  BigInt(90 + Buffer.byteLength(streamId) + Buffer.byteLength(e.type) + e.data.length + e.metadata.length);

/**
 * The double's database: one append-only log (`$all`) and an index by stream. It holds the data across
 * restarts of the gRPC server, as a node's disk would.
 */
export class DoubleStore {
  private readonly log: DoubleRecord[] = [];
  private readonly streams = new Map<string, StreamState>();
  private readonly listeners = new Set<Listener>();
  private readonly firstPosition: bigint;
  private end: bigint;
  readonly now: () => number;

  constructor(options: DoubleStoreOptions = {}) {
    this.firstPosition = options.firstPosition ?? 0n;
    this.now = options.now ?? Date.now;
    // A fresh node writes its epoch record first, so user events never start at the log's first byte.
    this.end = this.firstPosition + 128n;
    this.seedSystemEvents();
  }

  /** The writer checkpoint: where the next record will be written. */
  get endPosition(): bigint {
    return this.end;
  }

  onAppended(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  write(streamId: string, expected: ExpectedVersion, events: readonly ProposedEvent[]): WriteResult {
    const decision = checkCommit(
      this.facts(streamId),
      expected,
      events.map((e) => e.eventId),
    );
    return this.applyWrite(streamId, decision, events);
  }

  /**
   * Soft delete: writes `$tb` = Int64.MaxValue to the metadata stream (docs: Streams › "Soft delete and
   * TruncateBefore"); the stream's events stay in `$all` until a scavenge. Deleting a stream that has
   * neither events nor metadata is a wrong expected version (StorageWriterService).
   */
  softDelete(streamId: string, expected: ExpectedVersion): WriteResult {
    const facts = this.facts(streamId);
    const decision = checkCommit(facts, expected, [crypto.randomUUID()]);
    if (decision.kind === 'wrong_expected_version' || decision.kind === 'stream_deleted') return decision;
    if (facts.current < 0n && !facts.hasMetadata) return { kind: 'wrong_expected_version', current: -1n };
    // The metadata is replaced by `$tb` alone: other settings do not survive a soft delete.
    const [meta] = this.appendRecords(metastreamOf(streamId), [
      this.metadataEvent(serializeStreamMetadata({}, DELETED_STREAM)),
    ]);
    return { kind: 'success', lastRevision: facts.current, position: meta?.position ?? null };
  }

  /**
   * Hard delete: a `$streamDeleted` tombstone at revision Int64.MaxValue; the stream can never be read or
   * written again (docs: Streams › "Hard delete").
   */
  tombstone(streamId: string, expected: ExpectedVersion): WriteResult {
    const decision = checkCommit(this.facts(streamId), expected, [crypto.randomUUID()]);
    if (decision.kind === 'wrong_expected_version' || decision.kind === 'stream_deleted') return decision;
    const record = this.makeRecord(streamId, DELETED_STREAM, {
      eventId: crypto.randomUUID(),
      type: '$streamDeleted',
      isJson: false,
      data: new Uint8Array(),
      metadata: new Uint8Array(),
    });
    this.stream(streamId).tombstone = record;
    this.log.push(record);
    this.notify([record]);
    return { kind: 'success', lastRevision: DELETED_STREAM, position: record.position };
  }

  /**
   * Reads a stream forwards from `from` (inclusive) or backwards from `from` (inclusive), honouring the
   * stream's `$maxCount`, `$maxAge` and `$tb` (docs: Streams › "Max count and Max age"; the age is
   * computed at read time).
   */
  readStream(
    streamId: string,
    from: bigint | 'start' | 'end',
    direction: 'forwards' | 'backwards',
    count: bigint,
  ): StreamReadResult {
    const state = this.streams.get(streamId);
    if (state?.tombstone) return { kind: 'deleted' };
    const meta = this.metadataOf(streamId);
    const records = state?.records ?? [];
    // A stream without events, or soft-deleted, reads as "not found" (docs: Streams › soft delete).
    if (records.length === 0 || meta.truncateBefore === DELETED_STREAM) return { kind: 'not_found' };
    const visible = this.visibleRecords(records, meta);
    const out: DoubleRecord[] = [];
    if (direction === 'forwards') {
      const start = from === 'start' ? 0n : from === 'end' ? BigInt(records.length) : from;
      for (const r of visible) {
        if (BigInt(out.length) >= count) break;
        if (r.revision >= start) out.push(r);
      }
    } else {
      const start = from === 'end' ? BigInt(records.length - 1) : from === 'start' ? 0n : from;
      for (let i = visible.length - 1; i >= 0 && BigInt(out.length) < count; i--) {
        const r = visible[i] as DoubleRecord;
        if (r.revision <= start) out.push(r);
      }
    }
    return { kind: 'events', records: out };
  }

  /**
   * Reads `$all`. Forwards from a position includes the event at that position; backwards from a
   * position returns the events before it (AllReader compares the record's post-position). `$all` skips
   * the per-stream index checks: deleted and truncated events stay readable until a scavenge (docs:
   * Streams › "Deleting streams and events").
   */
  readAll(
    from: bigint | 'start' | 'end',
    direction: 'forwards' | 'backwards',
    count: bigint,
  ): DoubleRecord[] {
    const out: DoubleRecord[] = [];
    if (direction === 'forwards') {
      if (from === 'end') return out;
      const start = from === 'start' ? this.firstPosition : from;
      for (let i = this.indexAtOrAfter(start); i < this.log.length && BigInt(out.length) < count; i++)
        out.push(this.log[i] as DoubleRecord);
    } else {
      const before = from === 'end' || from === 'start' ? (from === 'end' ? this.end : 0n) : from;
      for (let i = this.indexAtOrAfter(before) - 1; i >= 0 && BigInt(out.length) < count; i--) {
        const r = this.log[i] as DoubleRecord;
        if (r.nextPosition <= before) out.push(r);
      }
    }
    return out;
  }

  /**
   * The server reads `$all` only from a record boundary (or the writer checkpoint); anything else is an
   * invalid position (StorageReaderWorker: ReadAllResult.InvalidPosition).
   */
  isValidPosition(position: bigint): boolean {
    if (position <= this.firstPosition || position >= this.end) return true;
    const i = this.indexAtOrAfter(position);
    return (this.log[i]?.position ?? this.end) === position;
  }

  /** The records of `$all` strictly after a position, in log order. */
  recordsAfter(position: bigint, max: number): DoubleRecord[] {
    const out: DoubleRecord[] = [];
    for (let i = this.indexAtOrAfter(position + 1n); i < this.log.length && out.length < max; i++)
      out.push(this.log[i] as DoubleRecord);
    return out;
  }

  /** Last revision of a stream, `-1n` when it has no event; tombstoned streams report DELETED_STREAM. */
  lastRevision(streamId: string): bigint {
    const state = this.streams.get(streamId);
    if (state?.tombstone) return DELETED_STREAM;
    return BigInt((state?.records.length ?? 0) - 1);
  }

  metadataOf(streamId: string): DoubleStreamMetadata {
    if (isMetastream(streamId)) return METASTREAM_METADATA;
    const last = this.streams.get(metastreamOf(streamId))?.records.at(-1);
    return last ? parseStreamMetadata(last.data, last.isJson) : EMPTY_METADATA;
  }

  private applyWrite(
    streamId: string,
    decision: CommitDecision,
    events: readonly ProposedEvent[],
  ): WriteResult {
    switch (decision.kind) {
      case 'stream_deleted':
      case 'wrong_expected_version':
        return decision;
      case 'idempotent': {
        const last = this.stream(streamId).records[Number(decision.last)];
        return { kind: 'success', lastRevision: decision.last, position: last?.position ?? null };
      }
      case 'ok': {
        if (events.length === 0) return { kind: 'success', lastRevision: decision.current, position: null };
        // Same order as StorageWriterService: decide whether the original stream of a metastream is
        // soft-deleted before writing, write, then rewrite `$tb` so the stream continues after its last
        // revision. Writing metadata to a soft-deleted stream recreates it too.
        const original = isMetastream(streamId) ? originalStreamOf(streamId) : undefined;
        const undeleteOriginal = original !== undefined && this.isSoftDeleted(original);
        const written = this.appendRecords(streamId, events);
        if (decision.softDeleted) this.softUndelete(streamId, decision.current + 1n);
        if (original !== undefined && undeleteOriginal)
          this.softUndelete(original, this.lastRevision(original) + 1n);
        const last = written.at(-1) as DoubleRecord;
        return { kind: 'success', lastRevision: last.revision, position: last.position };
      }
    }
  }

  /** Rewrites `$tb` from Int64.MaxValue to the revision the stream continues from (StorageWriterService). */
  private softUndelete(streamId: string, recreateFrom: bigint): void {
    const raw = this.metadataOf(streamId).raw;
    this.appendRecords(metastreamOf(streamId), [
      this.metadataEvent(serializeStreamMetadata(raw, recreateFrom)),
    ]);
  }

  private isSoftDeleted(streamId: string): boolean {
    return this.metadataOf(streamId).truncateBefore === DELETED_STREAM;
  }

  private visibleRecords(records: readonly DoubleRecord[], meta: DoubleStreamMetadata): DoubleRecord[] {
    const last = BigInt(records.length - 1);
    let min = 0n;
    if (meta.maxCount !== undefined) min = bigMax(min, last - BigInt(meta.maxCount) + 1n);
    if (meta.truncateBefore !== undefined) min = bigMax(min, meta.truncateBefore);
    const ageThreshold = meta.maxAge === undefined ? undefined : this.now() - meta.maxAge * 1000;
    return records.filter(
      (r) => r.revision >= min && (ageThreshold === undefined || r.createdMs >= ageThreshold),
    );
  }

  private facts(streamId: string): StreamFacts {
    const state = this.streams.get(streamId);
    const records = state?.records ?? [];
    return {
      current: BigInt(records.length - 1),
      tombstoned: state?.tombstone != null,
      softDeleted: this.isSoftDeleted(streamId),
      hasMetadata: (this.streams.get(metastreamOf(streamId))?.records.length ?? 0) > 0,
      eventIdAt: (revision) => records[Number(revision)]?.eventId,
      revisionOf: (eventId) => records.find((r) => r.eventId === eventId)?.revision,
    };
  }

  private appendRecords(streamId: string, events: readonly ProposedEvent[]): DoubleRecord[] {
    const state = this.stream(streamId);
    const written = events.map((e) => {
      const record = this.makeRecord(streamId, BigInt(state.records.length), e);
      state.records.push(record);
      this.log.push(record);
      return record;
    });
    this.notify(written);
    return written;
  }

  private makeRecord(streamId: string, revision: bigint, e: ProposedEvent): DoubleRecord {
    const position = this.end;
    this.end += recordSize(streamId, e);
    return { ...e, position, nextPosition: this.end, streamId, revision, createdMs: this.now() };
  }

  private metadataEvent(data: Uint8Array): ProposedEvent {
    return {
      eventId: crypto.randomUUID(),
      type: '$metadata',
      isJson: true,
      data,
      metadata: new Uint8Array(),
    };
  }

  private stream(streamId: string): StreamState {
    let state = this.streams.get(streamId);
    if (!state) {
      state = { records: [], tombstone: null };
      this.streams.set(streamId, state);
    }
    return state;
  }

  private notify(records: readonly DoubleRecord[]): void {
    for (const listener of [...this.listeners]) listener(records);
  }

  /** Binary search: the index of the first record at or after a position. */
  private indexAtOrAfter(position: bigint): number {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.log[mid] as DoubleRecord).position < position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * A new node writes system events of its own (default users, settings) before any client does, so
   * `$all` never starts with a user event; readers must skip `$`-prefixed streams and event types.
   */
  private seedSystemEvents(): void {
    const json = (type: string, body: unknown): ProposedEvent => ({
      eventId: crypto.randomUUID(),
      type,
      isJson: true,
      data: Buffer.from(JSON.stringify(body)),
      metadata: new Uint8Array(),
    });
    this.appendRecords('$users', [json('$User', { loginName: 'admin' })]);
    this.appendRecords('$settings', [json('$settings', { $userStreamAcl: {}, $systemStreamAcl: {} })]);
  }
}

const bigMax = (a: bigint, b: bigint): bigint => (a > b ? a : b);
