import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogLine, StageLogRecord } from '../domain/logRecord.ts';
import type { EventData, EventStore, ExpectedRevision } from '../infra/eventstore/eventStore.ts';
import { isWrongExpectedRevisionError } from '../infra/eventstore/eventStore.ts';
import { logStreamName, toLogEventData } from '../infra/eventstore/stageLogStreams.ts';
import { isStorageFullError } from '../infra/files/storageFull.ts';

export interface StageLogWriterOptions {
  store: EventStore;
  jobId: string;
  stage: string;
  attempt: number;
  startedSeq: number;
  /** Where this attempt's lines start in the stage's log (the end of the attempts before it). */
  baseOffset: number;
  /** Told once when the writer gives up (a full store, another writer, a store that keeps failing). */
  onGiveUp?: (error: Error) => void;
  /** Told true when unwritten lines pile up past the high-water mark, false once they drained. */
  onPressure?: (high: boolean) => void;
}

/** Records per append: one append call is one atomic write of up to this many records. */
const RECORDS_PER_APPEND = 64;
/** Unwritten bytes above which the stage's output is paused (it blocks on its pipe), and below which it resumes. */
const HIGH_WATER_BYTES = 1024 * 1024;
const LOW_WATER_BYTES = 256 * 1024;
const RETRIES = 5;
const RETRY_MS = 100;

interface Pending {
  event: EventData;
  bytes: number;
}

/**
 * Appends one attempt's log records to its own stream (`joblog-…`), one append at a time, in order; the
 * records that pile up meanwhile go together in the next append. Each append expects the revision the
 * last one left: if another process wrote to the stream (a runner that took over and marked the attempt
 * interrupted), the append is refused and this writer stops, so the attempt's log never interleaves two
 * writers. A retried append whose first try did land is recognised by its event id.
 */
export class StageLogWriter {
  readonly #options: StageLogWriterOptions;
  readonly #stream: string;
  readonly #queue: Pending[] = [];
  #offset: number;
  #queuedBytes = 0;
  #expected: ExpectedRevision = 'no_stream';
  #pump: Promise<void> | null = null;
  #gaveUp = false;
  #high = false;
  #appends = 0;

  constructor(options: StageLogWriterOptions) {
    this.#options = options;
    this.#stream = logStreamName(options.jobId, options.stage, options.startedSeq);
    this.#offset = options.baseOffset;
  }

  get stream(): string {
    return this.#stream;
  }

  /** The byte offset the next line would start at. */
  get offset(): number {
    return this.#offset;
  }

  /** Append calls made (each one atomic write of one or more records). */
  get appends(): number {
    return this.#appends;
  }

  /** Queues one batch of lines as a record; it is appended after those before it. */
  write(lines: LogLine[], bytes: number): void {
    const record: StageLogRecord = {
      job_id: this.#options.jobId,
      stage: this.#options.stage,
      attempt: this.#options.attempt,
      started_seq: this.#options.startedSeq,
      offset: this.#offset,
      lines,
    };
    this.#offset += bytes;
    if (this.#gaveUp) return;
    this.#queue.push({ event: toLogEventData(record, randomUUID()), bytes });
    this.#queuedBytes += bytes;
    this.#checkPressure();
    this.#kick();
  }

  /** Resolves once every queued record is appended (or given up on). */
  async flushed(): Promise<void> {
    while (this.#pump) await this.#pump;
  }

  #kick(): void {
    if (this.#pump || this.#gaveUp || this.#queue.length === 0) return;
    this.#pump = this.#drain().finally(() => {
      this.#pump = null;
      this.#kick(); // queued after the loop looked
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0 && !this.#gaveUp) {
      const batch = this.#queue.slice(0, RECORDS_PER_APPEND);
      try {
        await this.#append(batch.map((p) => p.event));
      } catch (error) {
        this.#giveUp(error as Error);
        return;
      }
      this.#queue.splice(0, batch.length);
      this.#queuedBytes -= batch.reduce((sum, p) => sum + p.bytes, 0);
      this.#checkPressure();
    }
  }

  async #append(events: EventData[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.#appends++;
        const result = await this.#options.store.append(this.#stream, events, {
          expectedRevision: this.#expected,
        });
        this.#expected = result.nextRevision;
        return;
      } catch (error) {
        if (isWrongExpectedRevisionError(error)) {
          const landed = await this.#landed(events);
          if (landed !== null) {
            this.#expected = landed;
            return;
          }
          throw error;
        }
        if (isStorageFullError(error) || attempt >= RETRIES) throw error;
        await sleep(RETRY_MS * 2 ** attempt);
      }
    }
  }

  /** After a refused retry: the revision of our last event if an earlier try of this append did land. */
  async #landed(events: EventData[]): Promise<number | null> {
    const lastId = events.at(-1)?.id;
    for await (const recorded of this.#options.store.readStream(this.#stream, {
      direction: 'backwards',
      fromRevision: 'end',
      maxCount: 1,
    }))
      return recorded.id === lastId ? recorded.revision : null;
    return null;
  }

  #giveUp(error: Error): void {
    this.#gaveUp = true;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#checkPressure();
    this.#options.onGiveUp?.(error);
  }

  #checkPressure(): void {
    if (!this.#high && this.#queuedBytes > HIGH_WATER_BYTES) {
      this.#high = true;
      this.#options.onPressure?.(true);
    } else if (this.#high && this.#queuedBytes < LOW_WATER_BYTES) {
      this.#high = false;
      this.#options.onPressure?.(false);
    }
  }
}
