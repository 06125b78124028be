import { randomUUID } from 'node:crypto';
import type { EventType } from '../domain/events.ts';
import type { EventStore, ExpectedRevision, RecordedEvent } from '../infra/eventstore/eventStore.ts';
import type { SealedSecret } from './secretBox.ts';

/** Every webhook stream starts with this: outside `job-`, so no job reader ever sees one. */
export const WEBHOOK_STREAM_PREFIX = 'webhooks-';

/** Registry events: the endpoints registered through the API and every change to them, in one stream. */
export type RegistryEvent =
  | {
      type: 'webhook_endpoint_registered';
      endpoint_id: string;
      url: string;
      description: string | null;
      event_types: EventType[];
      jobs: string[];
      pipelines: string[];
      /** Never the secret itself: it is sealed with `webhooks.secret_key`. */
      sealed_secret: SealedSecret;
      at: string;
      /** Only events after this position are delivered; null: after the registration event itself. */
      created_position: string | null;
    }
  | { type: 'webhook_endpoint_deleted'; endpoint_id: string; at: string }
  | { type: 'webhook_endpoint_disabled'; endpoint_id: string; at: string; reason: string }
  | { type: 'webhook_endpoint_enabled'; endpoint_id: string; at: string }
  | { type: 'webhook_redelivery_requested'; endpoint_id: string; position: string; at: string };

/** Checkpoint events: where an endpoint's in-order delivery stands, one stream per endpoint. */
export type CheckpointEvent =
  | { type: 'webhook_checkpoint_started'; endpoint_id: string; checkpoint: string | null; at: string }
  | {
      type: 'webhook_delivery_acknowledged';
      endpoint_id: string;
      position: string;
      event_id: string;
      status: 'delivered' | 'failed';
      at: string;
      attempt_count: number;
      status_code: number | null;
      /** A redelivery on request: it does not move the checkpoint back. */
      redelivery: boolean;
      /** Every event of the endpoint at or below this position has been delivered or has failed for good. */
      checkpoint: string;
    };

export type WebhookLogEvent = RegistryEvent | CheckpointEvent;

/** An endpoint's checkpoint as the store has it, with the stream revision the next append must expect. */
export interface StoredCheckpoint {
  revision: ExpectedRevision;
  /** Null: nothing acknowledged yet (the endpoint's `created_position` bounds what it gets). */
  checkpoint: string | null;
  /** Whether the stream has been written at all (a config endpoint's start is recorded once). */
  exists: boolean;
}

/** A checkpoint stream keeps its latest acknowledgements only: the last one says it all. */
export const CHECKPOINT_STREAM_MAX_COUNT = 1000;

/**
 * The webhook streams of the event store, through the port only: `webhooks-registry` (what the API
 * registered, changed, deleted) and `webhooks-checkpoint-<endpoint id>` (acknowledged deliveries, appended
 * with the expected revision). `prefix` lets a test keep its streams apart on a shared server.
 */
export class WebhookLog {
  readonly registryStream: string;
  readonly #checkpointPrefix: string;

  constructor(
    readonly store: EventStore,
    readonly prefix = WEBHOOK_STREAM_PREFIX,
  ) {
    this.registryStream = `${prefix}registry`;
    this.#checkpointPrefix = `${prefix}checkpoint-`;
  }

  checkpointStream(endpointId: string): string {
    return `${this.#checkpointPrefix}${endpointId}`;
  }

  /** The endpoint whose checkpoint stream this is, or undefined for any other stream. */
  checkpointEndpoint(stream: string): string | undefined {
    return stream.startsWith(this.#checkpointPrefix)
      ? stream.slice(this.#checkpointPrefix.length)
      : undefined;
  }

  /** Appends to the registry; resolves to where the event landed. */
  async register(event: RegistryEvent): Promise<{ revision: number; position: string }> {
    const { type, ...data } = event;
    const result = await this.store.append(this.registryStream, [{ id: randomUUID(), type, data }]);
    return { revision: result.nextRevision, position: result.position };
  }

  /** The last checkpoint event of an endpoint (acknowledgements are the only writes to its stream). */
  async readCheckpoint(endpointId: string): Promise<StoredCheckpoint> {
    for await (const e of this.store.readStream(this.checkpointStream(endpointId), {
      direction: 'backwards',
      maxCount: 1,
    })) {
      const event = toCheckpointEvent(e);
      return { revision: e.revision, checkpoint: event?.checkpoint ?? null, exists: true };
    }
    return { revision: 'no_stream', checkpoint: null, exists: false };
  }

  /**
   * Appends to an endpoint's checkpoint stream only if it is still at `expected`: of two senders (a leader
   * and one that does not know yet it was replaced), one wins and the other re-reads. The first write sets
   * the stream's retention. Throws `WrongExpectedRevisionError` on a race.
   */
  async checkpoint(
    endpointId: string,
    event: CheckpointEvent,
    expected: ExpectedRevision,
  ): Promise<{ revision: number; position: string }> {
    const stream = this.checkpointStream(endpointId);
    const { type, ...data } = event;
    const result = await this.store.append(stream, [{ id: randomUUID(), type, data }], {
      expectedRevision: expected,
    });
    if (expected === 'no_stream' || result.nextRevision === 0)
      await this.store.setStreamMetadata(stream, { maxCount: CHECKPOINT_STREAM_MAX_COUNT });
    return { revision: result.nextRevision, position: result.position };
  }

  async deleteCheckpoint(endpointId: string): Promise<void> {
    await this.store.deleteStream(this.checkpointStream(endpointId));
  }

  /** Every registry event, oldest first (what a test or an audit reads). */
  async *readRegistry(): AsyncGenerator<RecordedEvent & { event: RegistryEvent }> {
    for await (const e of this.store.readStream(this.registryStream)) {
      const event = toRegistryEvent(e);
      if (event) yield { ...e, event };
    }
  }

  /** What a recorded event of one of these streams says; undefined for anything else. */
  parse(recorded: RecordedEvent): WebhookLogEvent | undefined {
    if (recorded.streamId === this.registryStream) return toRegistryEvent(recorded);
    if (this.checkpointEndpoint(recorded.streamId) !== undefined) return toCheckpointEvent(recorded);
    return undefined;
  }
}

const REGISTRY_TYPES = new Set<string>([
  'webhook_endpoint_registered',
  'webhook_endpoint_deleted',
  'webhook_endpoint_disabled',
  'webhook_endpoint_enabled',
  'webhook_redelivery_requested',
]);
const CHECKPOINT_TYPES = new Set<string>(['webhook_checkpoint_started', 'webhook_delivery_acknowledged']);

function toRegistryEvent(e: RecordedEvent): RegistryEvent | undefined {
  return REGISTRY_TYPES.has(e.type) ? ({ ...e.data, type: e.type } as RegistryEvent) : undefined;
}

function toCheckpointEvent(e: RecordedEvent): CheckpointEvent | undefined {
  return CHECKPOINT_TYPES.has(e.type) ? ({ ...e.data, type: e.type } as CheckpointEvent) : undefined;
}

type Registration = Extract<RegistryEvent, { type: 'webhook_endpoint_registered' }>;

/**
 * The endpoint fields a registration sets, as every process projects them; health and failure fields are
 * not among them. `position` is the registration's own, used when it names no starting point.
 */
export function registeredFields(event: Registration, position: string) {
  return {
    id: event.endpoint_id,
    url: event.url,
    description: event.description,
    event_types: event.event_types,
    jobs: event.jobs,
    pipelines: event.pipelines,
    source: 'api' as const,
    sealed_secret: event.sealed_secret,
    created_at: event.at,
    created_position: event.created_position ?? position,
  };
}
