import { randomUUID } from 'node:crypto';
import type { ResolvedEvent } from '@eventstore/db-client';
import {
  EventStoreDBClient,
  jsonEvent,
  NO_STREAM,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import test from 'ava';
import { openEsdbEventStore } from '../../src/infra/eventstore/esdb/index.ts';
import type { EsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';
import { startEsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';

/**
 * Rules of the double that the port's contract suite does not reach through the adapter: hard deletes,
 * idempotent appends, the plain Append call, discovery, position validation, metadata parsing. Serial:
 * the client library settles every client's pending appends from one module-wide map, so closing the
 * extra store of the first test would cancel appends of tests running beside it.
 */
let double: EsdbDouble;
let client: EventStoreDBClient;

test.before(async () => {
  double = await startEsdbDouble();
  client = EventStoreDBClient.connectionString(double.connectionString);
});
test.after.always(async () => {
  await client?.dispose();
  await double?.stop();
});

const stream = () => `double-${randomUUID().slice(0, 8)}`;
const tick = (id: string = randomUUID()) => jsonEvent({ id, type: 'tick', data: { at: id } });

async function read(name: string): Promise<ResolvedEvent[]> {
  const out: ResolvedEvent[] = [];
  for await (const e of client.readStream(name)) out.push(e);
  return out;
}

test.serial(
  'a tombstoned stream can be neither read nor written; the adapter reads it as empty',
  async (t) => {
    const s = stream();
    await client.appendToStream(s, [tick(), tick()]);
    await client.tombstoneStream(s);
    await t.throwsAsync(read(s), { instanceOf: StreamDeletedError });
    await t.throwsAsync(client.appendToStream(s, tick()), { instanceOf: StreamDeletedError });
    const store = await openEsdbEventStore({ connectionString: double.connectionString });
    try {
      const seen = [];
      for await (const e of store.readStream(s)) seen.push(e);
      t.deepEqual(seen, []);
      await t.notThrowsAsync(store.deleteStream(s));
    } finally {
      await store.close();
    }
  },
);

test.serial('appending the same event ids again is idempotent', async (t) => {
  const s = stream();
  const ids = [randomUUID(), randomUUID()];
  const first = await client.appendToStream(s, ids.map(tick), { expectedRevision: NO_STREAM });
  const again = await client.appendToStream(s, ids.map(tick), { expectedRevision: NO_STREAM });
  const anyAgain = await client.appendToStream(s, ids.map(tick));
  t.is(again.nextExpectedRevision, first.nextExpectedRevision);
  t.deepEqual(again.position, first.position);
  t.is(anyAgain.nextExpectedRevision, 1n);
  t.is((await read(s)).length, 2);
  await t.throwsAsync(client.appendToStream(s, [tick(ids[0]), tick()], { expectedRevision: NO_STREAM }), {
    instanceOf: WrongExpectedVersionError,
  });
});

test.serial('the plain Append call (used with per-call credentials) follows the same rules', async (t) => {
  const s = stream();
  const credentials = { username: 'admin', password: 'changeit' };
  const r = await client.appendToStream(s, [tick(), tick()], { credentials, expectedRevision: NO_STREAM });
  t.is(r.nextExpectedRevision, 1n);
  const error = await t.throwsAsync(client.appendToStream(s, tick(), { credentials, expectedRevision: 5n }), {
    instanceOf: WrongExpectedVersionError,
  });
  t.is(error?.actualVersion, 1n);
});

test.serial(
  'soft delete: stream_exists is refused as deleted, no_stream recreates after the last revision',
  async (t) => {
    const s = stream();
    await client.appendToStream(s, [tick(), tick(), tick()]);
    await client.deleteStream(s);
    await t.throwsAsync(read(s), { instanceOf: StreamNotFoundError });
    await t.throwsAsync(client.appendToStream(s, tick(), { expectedRevision: STREAM_EXISTS }), {
      instanceOf: StreamDeletedError,
    });
    const again = await client.appendToStream(s, tick(), { expectedRevision: NO_STREAM });
    t.is(again.nextExpectedRevision, 3n);
    t.deepEqual(
      (await read(s)).map((e) => e.event?.revision),
      [3n],
    );
    // Deleting what never existed is a wrong expected version on the server (the adapter ignores it).
    await t.throwsAsync(client.deleteStream(stream()), { instanceOf: WrongExpectedVersionError });
  },
);

test.serial(
  'metadata the server cannot parse exactly (a $tb past Int64) is ignored as a whole',
  async (t) => {
    const s = stream();
    await client.appendToStream(s, [tick(), tick(), tick()]);
    await client.setStreamMetadata(s, { maxCount: 1 });
    t.is((await read(s)).length, 1);
    // JavaScript writes Int64.MaxValue as 9223372036854776000: the server drops the metadata, maxCount too.
    await client.setStreamMetadata(s, { maxCount: 1, truncateBefore: 2 ** 63 });
    t.is((await read(s)).length, 3);
  },
);

test.serial('reads of $all from a position inside a record are refused', async (t) => {
  const s = stream();
  const r = await client.appendToStream(s, tick());
  const inside = { commit: (r.position?.commit ?? 0n) + 1n, prepare: (r.position?.commit ?? 0n) + 1n };
  await t.throwsAsync(async () => {
    for await (const _ of client.readAll({ fromPosition: inside, maxCount: 1 })) break;
  });
});

test.serial('discovery through Gossip finds the single node as leader', async (t) => {
  const discovered = EventStoreDBClient.connectionString(
    `esdb+discover://127.0.0.1:${double.port}?tls=false&discoveryInterval=50&maxDiscoverAttempts=3`,
  );
  try {
    const s = stream();
    const r = await discovered.appendToStream(s, tick());
    t.is(r.nextExpectedRevision, 0n);
  } finally {
    await discovered.dispose();
  }
});
