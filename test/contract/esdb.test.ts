import { randomUUID } from 'node:crypto';
import test from 'ava';
import { openEsdbEventStore } from '../../src/infra/eventstore/esdb/index.ts';
import { EventStoreClosedError } from '../../src/infra/eventstore/storeErrors.ts';
import type { EsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';
import { startEsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';
import { defineEventStoreContract } from './eventStoreContract.ts';
import { defineLogStreamsContract } from './logStreamsContract.ts';
import { defineWebhookStreamsContract } from './webhookStreamsContract.ts';

/**
 * The EventStoreDB adapter against the contract: over the real client and real gRPC, served by the
 * in-memory double — or by a real server when EVENTSTORE_CONNECTION_STRING is set (`npm run test:esdb`,
 * which refuses to run without one). The double's log starts past 2^53 so that every position in the
 * suite takes the decimal-string path an old or large database would.
 */
const external = process.env.EVENTSTORE_CONNECTION_STRING;
if (process.env.npm_lifecycle_event === 'test:esdb' && !external)
  throw new Error('npm run test:esdb runs against a real server: set EVENTSTORE_CONNECTION_STRING');

let double: Promise<EsdbDouble> | undefined;
const connectionString = async (): Promise<string> => {
  if (external) return external;
  double ??= startEsdbDouble({ firstPosition: 2n ** 53n + 1_000_003n });
  return (await double).connectionString;
};

test.after.always(async () => {
  if (double) await (await double).stop();
});

/**
 * One store (one client) for the whole file, as in a real process. The suite's tests run concurrently,
 * and the client library keeps the pending appends of every client in one module-wide map: closing one
 * client rejects the in-flight appends of all the others. Production opens one store per process.
 */
let shared: ReturnType<typeof openEsdbEventStore> | undefined;
test.after.always(async () => {
  if (shared) await (await shared).close();
});

const esdbFactory = async () => {
  const url = await connectionString();
  shared ??= openEsdbEventStore({ connectionString: url });
  return { store: await shared, cleanup: async () => {} };
};
defineEventStoreContract(external ? 'eventstoredb' : 'eventstoredb (gRPC double)', esdbFactory);
defineWebhookStreamsContract(external ? 'eventstoredb' : 'eventstoredb (gRPC double)', esdbFactory);
defineLogStreamsContract(external ? 'eventstoredb' : 'eventstoredb (gRPC double)', esdbFactory);

// Serial tests run before the concurrent suite: closing this store's client cannot reject another's appends.
test.serial('eventstoredb: a call after close() throws the port EventStoreClosedError', async (t) => {
  const store = await openEsdbEventStore({ connectionString: await connectionString() });
  await store.close();
  const late = await t.throwsAsync(
    store.append('contract-closed', [{ id: randomUUID(), type: 'e', data: {} }]),
  );
  t.true(late instanceof EventStoreClosedError, `got ${String(late)}`);
  t.like(late, { code: 'event_store_closed', kind: 'unavailable' });
});
