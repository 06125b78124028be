import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import type { ExpectedVersion } from './commitCheck.ts';
import type { DoubleStore, WriteResult } from './doubleStore.ts';
import { invalidArgumentError, streamDeletedError, wrongExpectedVersionError } from './grpcErrors.ts';
import { sharedPb, streamsPb } from './protos.ts';
import { expectedAsLong, expectedFromWire, streamNameFromWire } from './wire.ts';

type DeleteReq = InstanceType<typeof streamsPb.DeleteReq>;
type DeleteResp = InstanceType<typeof streamsPb.DeleteResp>;
type TombstoneReq = InstanceType<typeof streamsPb.TombstoneReq>;
type TombstoneResp = InstanceType<typeof streamsPb.TombstoneResp>;
type Options =
  | InstanceType<typeof streamsPb.DeleteReq.Options>
  | InstanceType<typeof streamsPb.TombstoneReq.Options>;

/**
 * Streams.Delete (soft delete) and Streams.Tombstone (hard delete). Unlike Append, a wrong expected
 * version here is a gRPC error with `exception: wrong-expected-version` trailers (Streams.Delete,
 * RpcExceptions.WrongExpectedVersion).
 */
export function deleteHandler(store: DoubleStore) {
  return (call: ServerUnaryCall<DeleteReq, DeleteResp>, callback: sendUnaryData<DeleteResp>): void => {
    run(call.request.getOptions(), callback, store.softDelete.bind(store), (position) => {
      const resp = new streamsPb.DeleteResp();
      if (position === null) return resp.setNoPosition(new sharedPb.Empty());
      const p = new streamsPb.DeleteResp.Position()
        .setCommitPosition(`${position}`)
        .setPreparePosition(`${position}`);
      return resp.setPosition(p);
    });
  };
}

export function tombstoneHandler(store: DoubleStore) {
  return (
    call: ServerUnaryCall<TombstoneReq, TombstoneResp>,
    callback: sendUnaryData<TombstoneResp>,
  ): void => {
    run(call.request.getOptions(), callback, store.tombstone.bind(store), (position) => {
      const resp = new streamsPb.TombstoneResp();
      if (position === null) return resp.setNoPosition(new sharedPb.Empty());
      const p = new streamsPb.TombstoneResp.Position()
        .setCommitPosition(`${position}`)
        .setPreparePosition(`${position}`);
      return resp.setPosition(p);
    });
  };
}

function run<R>(
  options: Options | undefined,
  callback: sendUnaryData<R>,
  act: (stream: string, expected: ExpectedVersion) => WriteResult,
  respond: (position: bigint | null) => R,
): void {
  try {
    if (!options) throw invalidArgumentError('options are required');
    const stream = streamNameFromWire(options.getStreamIdentifier());
    const expected = expectedFromWire(options, () =>
      options.hasRevision() ? options.getRevision() : undefined,
    );
    const result = act(stream, expected);
    if (result.kind === 'stream_deleted') callback(streamDeletedError(stream));
    else if (result.kind === 'wrong_expected_version')
      callback(wrongExpectedVersionError('Delete', stream, expectedAsLong(expected), result.current));
    else callback(null, respond(result.position));
  } catch (error) {
    callback(error as Error & { code: number });
  }
}
