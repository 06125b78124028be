import type { ServerWritableStream } from '@grpc/grpc-js';
import type { DoubleRecord, DoubleStore } from './doubleStore.ts';
import {
  invalidArgumentError,
  invalidPositionError,
  streamDeletedError,
  streamIdentifier,
} from './grpcErrors.ts';
import { streamsPb } from './protos.ts';
import { readRespForRecord, streamNameFromWire } from './wire.ts';

type ReadReq = InstanceType<typeof streamsPb.ReadReq>;
type ReadResp = InstanceType<typeof streamsPb.ReadResp>;
type ReadOptions = InstanceType<typeof streamsPb.ReadReq.Options>;
type ReadCall = ServerWritableStream<ReadReq, ReadResp>;

/** Page size of the server's catch-up reads (Enumerator.*Subscription ReadBatchSize). */
const PAGE = 32;

/**
 * Streams.Read: plain reads of a stream or of `$all`, and catch-up subscriptions to either. Every
 * response is written with backpressure, so a client that stops reading stops the double too (HTTP/2 flow
 * control), as with the server's bounded channels.
 */
export function readHandler(store: DoubleStore) {
  return (call: ReadCall): void => {
    let closed = false;
    call.on('cancelled', () => {
      closed = true;
    });
    const send = async (resp: ReadResp): Promise<void> => {
      if (closed) return;
      if (!call.write(resp)) await firstOf(call, ['drain', 'cancelled']);
    };
    const fail = (error: Error): void => {
      if (!closed) call.emit('error', error);
      closed = true;
    };
    const options = call.request.getOptions();
    if (!options?.hasUuidOption()) {
      fail(invalidArgumentError('uuid_option is required'));
      return;
    }
    const structuredIds = options.getUuidOption()?.hasStructured() ?? false;
    const ctx: ReadContext = { store, send, fail, isClosed: () => closed, structuredIds };
    const run = options.hasSubscription()
      ? options.hasAll()
        ? subscribeToAll(ctx, options, call)
        : subscribeToStream(ctx, options, call)
      : options.hasAll()
        ? readAll(ctx, options)
        : readStream(ctx, options);
    run.then(
      () => {
        if (!closed) call.end();
      },
      (error: Error) => fail(error),
    );
  };
}

interface ReadContext {
  store: DoubleStore;
  send(resp: ReadResp): Promise<void>;
  fail(error: Error): void;
  isClosed(): boolean;
  structuredIds: boolean;
}

const direction = (o: ReadOptions): 'forwards' | 'backwards' =>
  o.getReadDirection() === 1 ? 'backwards' : 'forwards';

async function readStream(ctx: ReadContext, o: ReadOptions): Promise<void> {
  const so = o.getStream() as InstanceType<typeof streamsPb.ReadReq.Options.StreamOptions>;
  const stream = streamNameFromWire(so.getStreamIdentifier());
  const from = so.hasStart() ? 'start' : so.hasEnd() ? 'end' : BigInt(so.getRevision());
  const result = ctx.store.readStream(stream, from, direction(o), BigInt(o.getCount()));
  // A tombstoned stream fails the read; a missing or soft-deleted one answers "stream not found"
  // (docs: Streams › "Hard delete" / "Soft delete and TruncateBefore").
  if (result.kind === 'deleted') throw streamDeletedError(stream);
  if (result.kind === 'not_found') {
    const notFound = new streamsPb.ReadResp.StreamNotFound().setStreamIdentifier(streamIdentifier(stream));
    await ctx.send(new streamsPb.ReadResp().setStreamNotFound(notFound));
    return;
  }
  for (const r of result.records) await ctx.send(readRespForRecord(r, ctx.structuredIds));
}

function allPosition(ctx: ReadContext, ao: InstanceType<typeof streamsPb.ReadReq.Options.AllOptions>) {
  if (ao.hasStart()) return 'start' as const;
  if (ao.hasEnd()) return 'end' as const;
  const p = ao.getPosition() as InstanceType<typeof streamsPb.ReadReq.Options.Position>;
  const commit = BigInt(p.getCommitPosition());
  if (commit !== BigInt(p.getPreparePosition()) || !ctx.store.isValidPosition(commit))
    throw invalidPositionError();
  return commit;
}

async function readAll(ctx: ReadContext, o: ReadOptions): Promise<void> {
  if (o.hasFilter()) throw invalidArgumentError('filtered reads of $all are not served by the double');
  const from = allPosition(ctx, o.getAll() as InstanceType<typeof streamsPb.ReadReq.Options.AllOptions>);
  for (const r of ctx.store.readAll(from, direction(o), BigInt(o.getCount())))
    await ctx.send(readRespForRecord(r, ctx.structuredIds));
}

const confirmation = () =>
  new streamsPb.ReadResp().setConfirmation(
    new streamsPb.ReadResp.SubscriptionConfirmation().setSubscriptionId(crypto.randomUUID()),
  );
const caughtUp = () => new streamsPb.ReadResp().setCaughtUp(new streamsPb.ReadResp.CaughtUp());

/** Resolves on the first of some events of the call, then stops listening. */
function firstOf(
  call: ReadCall,
  events: readonly string[],
  also?: (done: () => void) => () => void,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const e of events) call.off(e, done);
      off?.();
      resolve();
    };
    for (const e of events) call.on(e, done);
    const off = also?.(done);
  });
}

/** Resolves when the store appends something or the call ends, whichever comes first. */
const nextAppend = (store: DoubleStore, call: ReadCall): Promise<void> =>
  firstOf(call, ['cancelled'], (done) => store.onAppended(done));

/**
 * Subscription to `$all` (Enumerator.AllSubscription): confirmation, then every event strictly after the
 * checkpoint — start, a position, or the end — "caught up" once the log is exhausted, then live events.
 * The start position is exclusive (docs: Clients › Catch-up subscriptions › "Subscribing from a specific
 * position"); an invalid position fails the call.
 */
async function subscribeToAll(ctx: ReadContext, o: ReadOptions, call: ReadCall): Promise<void> {
  const from = allPosition(ctx, o.getAll() as InstanceType<typeof streamsPb.ReadReq.Options.AllOptions>);
  const accept = o.hasFilter() ? eventFilter(o.getFilter() as FilterOptions) : () => true;
  let checkpoint = from === 'start' ? -1n : from === 'end' ? ctx.store.endPosition - 1n : from;
  await ctx.send(confirmation());
  let sentCaughtUp = false;
  while (!ctx.isClosed()) {
    const page = ctx.store.recordsAfter(checkpoint, PAGE);
    for (const r of page) {
      if (ctx.isClosed()) return;
      if (accept(r)) await ctx.send(readRespForRecord(r, ctx.structuredIds));
      checkpoint = r.position;
    }
    if (page.length > 0) continue;
    if (!sentCaughtUp) {
      sentCaughtUp = true;
      await ctx.send(caughtUp());
      continue;
    }
    await nextAppend(ctx.store, call);
  }
}

/**
 * Subscription to one stream (Enumerator.StreamSubscription): events after the revision (exclusive),
 * read through the stream's index so `$maxCount`/`$tb` apply to the catch-up; a missing stream is simply
 * caught up; a tombstone ends the subscription with "stream deleted".
 */
async function subscribeToStream(ctx: ReadContext, o: ReadOptions, call: ReadCall): Promise<void> {
  const so = o.getStream() as InstanceType<typeof streamsPb.ReadReq.Options.StreamOptions>;
  const stream = streamNameFromWire(so.getStreamIdentifier());
  const last = ctx.store.lastRevision(stream);
  let checkpoint = so.hasStart() ? -1n : so.hasEnd() ? last : BigInt(so.getRevision());
  await ctx.send(confirmation());
  let sentCaughtUp = false;
  while (!ctx.isClosed()) {
    const result = ctx.store.readStream(stream, checkpoint + 1n, 'forwards', BigInt(PAGE));
    if (result.kind === 'deleted') throw streamDeletedError(stream);
    const page: DoubleRecord[] = result.kind === 'events' ? result.records : [];
    for (const r of page) {
      if (ctx.isClosed()) return;
      await ctx.send(readRespForRecord(r, ctx.structuredIds));
      checkpoint = r.revision;
    }
    if (page.length > 0) continue;
    // Events hidden by metadata are skipped, not waited for.
    checkpoint = maxBig(checkpoint, ctx.store.lastRevision(stream));
    if (!sentCaughtUp) {
      sentCaughtUp = true;
      await ctx.send(caughtUp());
      continue;
    }
    await nextAppend(ctx.store, call);
  }
}

const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);

type FilterOptions = InstanceType<typeof streamsPb.ReadReq.Options.FilterOptions>;

/**
 * Server-side filters of `$all` subscriptions: stream-name or event-type, by prefixes or a regular
 * expression (docs: Clients › Subscriptions › "Server-side filtering"). JavaScript's RegExp stands in for
 * .NET's; checkpoint messages are not sent.
 */
function eventFilter(filter: FilterOptions): (r: DoubleRecord) => boolean {
  const onStream = filter.hasStreamIdentifier();
  const expr = (onStream ? filter.getStreamIdentifier() : filter.getEventType()) as InstanceType<
    typeof streamsPb.ReadReq.Options.FilterOptions.Expression
  >;
  const field = (r: DoubleRecord) => (onStream ? r.streamId : r.type);
  const regex = expr.getRegex();
  if (regex) {
    const re = new RegExp(regex);
    return (r) => re.test(field(r));
  }
  const prefixes = expr.getPrefixList();
  return (r) => prefixes.some((p) => field(r).startsWith(p));
}
