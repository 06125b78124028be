import type { ServiceError } from '@grpc/grpc-js';
import { Metadata, status } from '@grpc/grpc-js';
import { ProtobufAny, ProtobufEmpty, sharedPb, statusPb } from './protos.ts';

/**
 * Errors as the server raises them (RpcExceptions): a gRPC status plus an `exception` trailer naming the
 * kind, which the client turns into its typed errors (convertToCommandError).
 */
function serviceError(code: status, details: string, trailers: Record<string, string> = {}): ServiceError {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata });
}

export const streamDeletedError = (stream: string): ServiceError =>
  serviceError(status.FAILED_PRECONDITION, `Event stream '${stream}' is deleted.`, {
    exception: 'stream-deleted',
    'stream-name': stream,
  });

export const wrongExpectedVersionError = (
  operation: string,
  stream: string,
  expected: bigint,
  actual: bigint | undefined,
): ServiceError =>
  serviceError(
    status.FAILED_PRECONDITION,
    `${operation} failed due to WrongExpectedVersion. Stream: ${stream}, Expected version: ${expected}, Actual version: ${actual ?? ''}`,
    {
      exception: 'wrong-expected-version',
      'stream-name': stream,
      'expected-version': expected.toString(),
      'actual-version': actual?.toString() ?? '',
    },
  );

export const invalidPositionError = (): ServiceError =>
  serviceError(status.INVALID_ARGUMENT, 'Trying to read from an invalid position.');

export const invalidArgumentError = (what: string): ServiceError =>
  serviceError(status.INVALID_ARGUMENT, what);

export const requiredMetadataPropertyMissingError = (property: string): ServiceError =>
  serviceError(status.INVALID_ARGUMENT, `Required Metadata Property '${property}' is missing`, {
    exception: 'missing-required-metadata-property',
    'required-metadata-properties': 'type,content-type',
  });

/** google.rpc.Status as BatchAppend reports a failed write (server: Google.Rpc.Status helpers). */
export function rpcStatus(
  code: number,
  message: string,
  detail: { serializeBinary(): Uint8Array },
  typeName: string,
): InstanceType<typeof statusPb.Status> {
  const any = new ProtobufAny();
  any.pack(detail.serializeBinary(), typeName);
  return new statusPb.Status().setCode(code).setMessage(message).setDetails(any);
}

const GOOGLE_RPC_CODE = {
  ALREADY_EXISTS: 6,
  NOT_FOUND: 5,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
} as const;

export function wrongExpectedVersionStatus(
  current: bigint,
  expected: 'any' | 'no_stream' | 'stream_exists' | bigint,
) {
  const detail = new sharedPb.WrongExpectedVersion();
  if (current < 0n) detail.setCurrentNoStream(new ProtobufEmpty());
  else detail.setCurrentStreamRevision(current.toString());
  if (expected === 'any') detail.setExpectedAny(new ProtobufEmpty());
  else if (expected === 'no_stream') detail.setExpectedNoStream(new ProtobufEmpty());
  else if (expected === 'stream_exists') detail.setExpectedStreamExists(new ProtobufEmpty());
  else detail.setExpectedStreamPosition(expected.toString());
  return rpcStatus(
    GOOGLE_RPC_CODE.ALREADY_EXISTS,
    'WrongExpectedVersion',
    detail,
    'event_store.client.WrongExpectedVersion',
  );
}

export function streamDeletedStatus(stream: string) {
  const detail = new sharedPb.StreamDeleted().setStreamIdentifier(streamIdentifier(stream));
  return rpcStatus(GOOGLE_RPC_CODE.NOT_FOUND, 'StreamDeleted', detail, 'event_store.client.StreamDeleted');
}

export const timeoutStatus = () =>
  rpcStatus(
    GOOGLE_RPC_CODE.DEADLINE_EXCEEDED,
    'Timeout',
    new sharedPb.Timeout(),
    'event_store.client.Timeout',
  );

export const badRequestStatus = (message: string) =>
  rpcStatus(
    GOOGLE_RPC_CODE.INVALID_ARGUMENT,
    'BadRequest',
    new sharedPb.BadRequest().setMessage(message),
    'event_store.client.BadRequest',
  );

export const streamIdentifier = (stream: string) =>
  new sharedPb.StreamIdentifier().setStreamName(Buffer.from(stream, 'utf8'));
