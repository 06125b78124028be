import type { ServerDuplexStream, ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import type { ExpectedVersion } from './commitCheck.ts';
import type { DoubleStore, ProposedEvent, WriteResult } from './doubleStore.ts';
import {
  badRequestStatus,
  invalidArgumentError,
  streamDeletedError,
  streamDeletedStatus,
  streamIdentifier,
  timeoutStatus,
  wrongExpectedVersionStatus,
} from './grpcErrors.ts';
import { ProtobufEmpty, sharedPb, streamsPb } from './protos.ts';
import { expectedFromWire, proposedEventFromWire, streamNameFromWire, uuidFromWire } from './wire.ts';

type AppendReq = InstanceType<typeof streamsPb.AppendReq>;
type AppendResp = InstanceType<typeof streamsPb.AppendResp>;
type BatchAppendReq = InstanceType<typeof streamsPb.BatchAppendReq>;
type BatchAppendResp = InstanceType<typeof streamsPb.BatchAppendResp>;

/**
 * Streams.Append (client streaming): the first message carries the stream and expected revision, the rest
 * the events; the write is atomic and decided when the client ends the call (Streams.Append).
 */
export function appendHandler(store: DoubleStore) {
  return (call: ServerReadableStream<AppendReq, AppendResp>, callback: sendUnaryData<AppendResp>): void => {
    let header: { stream: string; expected: ExpectedVersion } | undefined;
    const events: ProposedEvent[] = [];
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      callback(error as never);
    };
    call.on('data', (req: AppendReq) => {
      if (failed) return;
      try {
        if (!header) {
          const o = req.getOptions();
          if (!o) throw invalidArgumentError('the first message of an append must carry its options');
          header = {
            stream: streamNameFromWire(o.getStreamIdentifier()),
            expected: expectedFromWire(o, () => (o.hasRevision() ? o.getRevision() : undefined)),
          };
        } else {
          const m = req.getProposedMessage();
          if (!m) throw invalidArgumentError('expected a proposed message');
          events.push(proposedEventFromWire(m));
        }
      } catch (error) {
        fail(error as Error);
      }
    });
    call.on('end', () => {
      if (failed) return;
      if (!header) return fail(invalidArgumentError('empty append'));
      const result = store.write(header.stream, header.expected, events);
      if (result.kind === 'stream_deleted') return fail(streamDeletedError(header.stream));
      callback(null, appendResp(result, header.expected));
    });
  };
}

function appendResp(result: Exclude<WriteResult, { kind: 'stream_deleted' }>, expected: ExpectedVersion) {
  const resp = new streamsPb.AppendResp();
  if (result.kind === 'success') {
    const success = new streamsPb.AppendResp.Success();
    if (result.lastRevision < 0n) success.setNoStream(new sharedPb.Empty());
    else success.setCurrentRevision(result.lastRevision.toString());
    if (result.position === null) success.setNoPosition(new sharedPb.Empty());
    else
      success.setPosition(
        new streamsPb.AppendResp.Position()
          .setCommitPosition(result.position.toString())
          .setPreparePosition(result.position.toString()),
      );
    return resp.setSuccess(success);
  }
  // A wrong expected version is an answer, not a gRPC error, on Append (Streams.Append).
  const wev = new streamsPb.AppendResp.WrongExpectedVersion();
  if (result.current < 0n) wev.setCurrentNoStream(new sharedPb.Empty());
  else wev.setCurrentRevision(result.current.toString());
  if (expected === 'any') wev.setExpectedAny(new sharedPb.Empty());
  else if (expected === 'no_stream') wev.setExpectedNoStream(new sharedPb.Empty());
  else if (expected === 'stream_exists') wev.setExpectedStreamExists(new sharedPb.Empty());
  else wev.setExpectedRevision(expected.toString());
  return resp.setWrongExpectedVersion(wev);
}

interface PendingBatch {
  stream: string;
  expected: ExpectedVersion;
  deadline: number | undefined;
  events: ProposedEvent[];
}

/**
 * Streams.BatchAppend (bidirectional): writes are keyed by a correlation id, may span several messages
 * until `is_final`, and each gets one response; failures are google.rpc.Status values with the detail
 * packed as `Any` (Streams.BatchAppend). The client keeps this one call open for all its appends.
 */
export function batchAppendHandler(store: DoubleStore) {
  return (call: ServerDuplexStream<BatchAppendReq, BatchAppendResp>): void => {
    const pending = new Map<string, PendingBatch>();
    call.on('data', (req: BatchAppendReq) => {
      const correlation = req.getCorrelationId();
      const key = correlation ? uuidFromWire(correlation) : '';
      const respond = (stream: string, fill: (resp: BatchAppendResp) => void) => {
        const resp = new streamsPb.BatchAppendResp().setStreamIdentifier(streamIdentifier(stream));
        if (correlation) resp.setCorrelationId(correlation);
        fill(resp);
        call.write(resp);
      };
      const o = req.getOptions();
      let batch = pending.get(key);
      try {
        if (o) {
          const deadline = o.getDeadline()?.toDate().getTime();
          batch = {
            stream: streamNameFromWire(o.getStreamIdentifier()),
            expected: expectedFromWire(o, () => (o.hasStreamPosition() ? o.getStreamPosition() : undefined)),
            deadline,
            events: [],
          };
          pending.set(key, batch);
        }
        if (!batch) return;
        for (const m of req.getProposedMessagesList()) batch.events.push(proposedEventFromWire(m));
      } catch (error) {
        pending.delete(key);
        const stream = batch?.stream ?? '';
        respond(stream, (r) => r.setError(badRequestStatus((error as Error).message)));
        return;
      }
      if (!batch || !req.getIsFinal()) return;
      pending.delete(key);
      const b = batch;
      if (b.deadline !== undefined && b.deadline <= Date.now()) {
        respond(b.stream, (r) => r.setError(timeoutStatus()));
        return;
      }
      const result = store.write(b.stream, b.expected, b.events);
      respond(b.stream, (r) => {
        if (result.kind === 'stream_deleted') r.setError(streamDeletedStatus(b.stream));
        else if (result.kind === 'wrong_expected_version')
          r.setError(wrongExpectedVersionStatus(result.current, b.expected));
        else r.setSuccess(batchSuccess(result));
      });
    });
    call.on('end', () => call.end());
  };
}

function batchSuccess(result: Extract<WriteResult, { kind: 'success' }>) {
  const success = new streamsPb.BatchAppendResp.Success();
  if (result.lastRevision < 0n) success.setNoStream(new ProtobufEmpty());
  else success.setCurrentRevision(result.lastRevision.toString());
  if (result.position === null) success.setNoPosition(new ProtobufEmpty());
  else
    success.setPosition(
      new sharedPb.AllStreamPosition()
        .setCommitPosition(result.position.toString())
        .setPreparePosition(result.position.toString()),
    );
  return success;
}
