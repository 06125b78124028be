import type { ExpectedVersion } from './commitCheck.ts';
import type { DoubleRecord, ProposedEvent } from './doubleStore.ts';
import {
  invalidArgumentError,
  requiredMetadataPropertyMissingError,
  streamIdentifier,
} from './grpcErrors.ts';
import { sharedPb, streamsPb } from './protos.ts';

type Uuid = InstanceType<typeof sharedPb.UUID>;
type ProposedMessage = InstanceType<typeof streamsPb.AppendReq.ProposedMessage>;
type BatchProposedMessage = InstanceType<typeof streamsPb.BatchAppendReq.ProposedMessage>;
type RecordedEventMessage = InstanceType<typeof streamsPb.ReadResp.ReadEvent.RecordedEvent>;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TICKS_PER_MS = 10_000n;

/** Reads a UUID in either wire form (`string` or `structured`, shared.proto). */
export function uuidFromWire(uuid: Uuid | undefined): string {
  if (!uuid) throw invalidArgumentError('missing event id');
  if (uuid.hasStructured()) {
    const s = uuid.getStructured() as InstanceType<typeof sharedPb.UUID.Structured>;
    const hex =
      BigInt.asUintN(64, BigInt(s.getMostSignificantBits())).toString(16).padStart(16, '0') +
      BigInt.asUintN(64, BigInt(s.getLeastSignificantBits())).toString(16).padStart(16, '0');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  const id = uuid.getString();
  // The server parses event ids as Guids and rejects anything else.
  if (!UUID_PATTERN.test(id)) throw invalidArgumentError(`'${id}' is not a valid event id`);
  return id.toLowerCase();
}

export const streamNameFromWire = (
  id: InstanceType<typeof sharedPb.StreamIdentifier> | undefined,
): string => {
  if (!id) throw invalidArgumentError('missing stream identifier');
  return Buffer.from(id.getStreamName_asU8()).toString('utf8');
};

/** Every proposed event must carry `type` and `content-type` metadata (Streams.Append, RpcExceptions). */
export function proposedEventFromWire(message: ProposedMessage | BatchProposedMessage): ProposedEvent {
  const meta = message.getMetadataMap();
  const type = meta.get('type');
  if (type === undefined) throw requiredMetadataPropertyMissingError('type');
  const contentType = meta.get('content-type');
  if (contentType === undefined) throw requiredMetadataPropertyMissingError('content-type');
  return {
    eventId: uuidFromWire(message.getId()),
    type,
    isJson: contentType === 'application/json',
    data: message.getData_asU8(),
    metadata: message.getCustomMetadata_asU8(),
  };
}

interface ExpectedOptions {
  hasAny(): boolean;
  hasNoStream(): boolean;
  hasStreamExists(): boolean;
}

export function expectedFromWire(
  options: ExpectedOptions,
  revision: () => string | undefined,
): ExpectedVersion {
  if (options.hasAny()) return 'any';
  if (options.hasNoStream()) return 'no_stream';
  if (options.hasStreamExists()) return 'stream_exists';
  const r = revision();
  if (r === undefined) throw invalidArgumentError('expected stream revision is not set');
  return BigInt(r);
}

/** The numeric form the server puts in `expected-version` trailers (ExpectedVersion constants). */
export const expectedAsLong = (expected: ExpectedVersion): bigint =>
  expected === 'any' ? -2n : expected === 'no_stream' ? -1n : expected === 'stream_exists' ? -4n : expected;

/**
 * A recorded event as the server sends it (Streams.Read ConvertToRecordedEvent): `type`, `created` in
 * .NET ticks since the Unix epoch and `content-type` in the metadata map; the id in the form the reader
 * asked for.
 */
export function recordToWire(record: DoubleRecord, structuredIds: boolean): RecordedEventMessage {
  const id = new sharedPb.UUID();
  if (structuredIds) {
    const hex = record.eventId.replaceAll('-', '');
    id.setStructured(
      new sharedPb.UUID.Structured()
        .setMostSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString())
        .setLeastSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(16)}`)).toString()),
    );
  } else id.setString(record.eventId);
  const event = new streamsPb.ReadResp.ReadEvent.RecordedEvent()
    .setId(id)
    .setStreamIdentifier(streamIdentifier(record.streamId))
    .setStreamRevision(record.revision.toString())
    .setPreparePosition(record.position.toString())
    .setCommitPosition(record.position.toString())
    .setData(record.data)
    .setCustomMetadata(record.metadata);
  const meta = event.getMetadataMap();
  meta.set('type', record.type);
  meta.set('created', (BigInt(record.createdMs) * TICKS_PER_MS).toString());
  meta.set('content-type', record.isJson ? 'application/json' : 'application/octet-stream');
  return event;
}

export function readRespForRecord(
  record: DoubleRecord,
  structuredIds: boolean,
): InstanceType<typeof streamsPb.ReadResp> {
  const readEvent = new streamsPb.ReadResp.ReadEvent()
    .setEvent(recordToWire(record, structuredIds))
    .setCommitPosition(record.position.toString());
  return new streamsPb.ReadResp().setEvent(readEvent);
}
