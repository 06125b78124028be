import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { EventStore, RecordedEvent } from '../../src/infra/eventstore/eventStore.ts';
import { isWrongExpectedRevisionError, JOB_STREAM_PREFIX } from '../../src/infra/eventstore/eventStore.ts';
import { keyId, openSecret, sealSecret } from '../../src/webhooks/secretBox.ts';
import {
  CHECKPOINT_STREAM_MAX_COUNT,
  WEBHOOK_STREAM_PREFIX,
  WebhookLog,
} from '../../src/webhooks/webhookLog.ts';
import type { EventStoreFactory } from './eventStoreContract.ts';

/**
 * The webhook streams on every store adapter (issue 18): the registry and the per-endpoint checkpoint
 * streams are their own category, never read by a `job-` reader of `$all`; a checkpoint moves only with the
 * expected revision. Each test keeps its streams under a prefix of its own, so a shared server works too.
 */
async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const KEY = Buffer.alloc(32, 7);

const registration = (endpointId: string, secret: string) => ({
  type: 'webhook_endpoint_registered' as const,
  endpoint_id: endpointId,
  url: 'https://hooks.example.com/x',
  description: null,
  event_types: [],
  jobs: [],
  pipelines: [],
  sealed_secret: sealSecret(KEY, endpointId, secret),
  at: new Date().toISOString(),
  created_position: null,
});

/** The position just before any event the test writes (exclusive reads start after it). */
async function headOf(store: EventStore): Promise<string> {
  return (await store.headPosition()) ?? 'start';
}

const after = (events: RecordedEvent[], head: string) =>
  head === 'start' ? events : events.filter((e) => BigInt(e.position) > BigInt(head));

export function defineWebhookStreamsContract(name: string, factory: EventStoreFactory): void {
  const storeTest = (
    title: string,
    body: (t: import('ava').ExecutionContext, store: EventStore) => Promise<void>,
  ) =>
    test(`${name}: webhook streams: ${title}`, async (t) => {
      const { store, cleanup } = await factory();
      t.teardown(cleanup);
      await body(t, store);
    });

  storeTest('the default names are a category of their own, outside job-', async (t, store) => {
    const log = new WebhookLog(store);
    t.is(log.registryStream, 'webhooks-registry');
    t.is(log.checkpointStream('wh_1'), 'webhooks-checkpoint-wh_1');
    t.is(log.checkpointEndpoint('webhooks-checkpoint-wh_1'), 'wh_1');
    t.is(log.checkpointEndpoint('job-webhooks-checkpoint-wh_1'), undefined);
    for (const stream of [log.registryStream, log.checkpointStream('job-x')]) {
      t.true(stream.startsWith(WEBHOOK_STREAM_PREFIX));
      t.false(stream.startsWith(JOB_STREAM_PREFIX));
    }
  });

  storeTest(
    'registry and checkpoint events never reach a job- reader of $all; their prefix reads them in order',
    async (t, store) => {
      const log = new WebhookLog(store, `${WEBHOOK_STREAM_PREFIX}${randomUUID().slice(0, 8)}-`);
      const job = `${JOB_STREAM_PREFIX}contract-${randomUUID().slice(0, 8)}`;
      const head = await headOf(store);
      const secret = `whsec_${randomUUID()}`;
      const registered = await log.register(registration('wh_a', secret));
      await store.append(job, [
        { id: randomUUID(), type: 'job_created', data: { ts: new Date().toISOString() } },
      ]);
      await log.checkpoint(
        'wh_a',
        {
          type: 'webhook_checkpoint_started',
          endpoint_id: 'wh_a',
          checkpoint: registered.position,
          at: new Date().toISOString(),
        },
        'no_stream',
      );
      await log.register({
        type: 'webhook_endpoint_disabled',
        endpoint_id: 'wh_a',
        at: new Date().toISOString(),
        reason: 'test',
      });

      const jobReader = after(
        await collect(
          store.readAll({ fromPosition: head, filter: { streamNamePrefix: [JOB_STREAM_PREFIX] } }),
        ),
        head,
      );
      t.false(
        jobReader.some((e) => e.streamId.startsWith(log.prefix)),
        'a job reader sees no webhook event',
      );
      t.true(jobReader.some((e) => e.streamId === job));
      const webhookReader = after(
        await collect(store.readAll({ fromPosition: head, filter: { streamNamePrefix: [log.prefix] } })),
        head,
      );
      t.deepEqual(
        webhookReader.map((e) => [e.streamId, e.type]),
        [
          [log.registryStream, 'webhook_endpoint_registered'],
          [log.checkpointStream('wh_a'), 'webhook_checkpoint_started'],
          [log.registryStream, 'webhook_endpoint_disabled'],
        ],
      );
      // what the follower gets from each
      t.like(log.parse(webhookReader[0] as RecordedEvent), {
        type: 'webhook_endpoint_registered',
        endpoint_id: 'wh_a',
      });
      t.is(log.parse(jobReader.find((e) => e.streamId === job) as RecordedEvent), undefined);
      // the registry holds the secret sealed only, and the key opens it
      const [first] = await collect(log.readRegistry());
      t.false(JSON.stringify(first).includes(secret));
      t.false(JSON.stringify(first).includes(secret.slice('whsec_'.length)));
      if (first?.event.type !== 'webhook_endpoint_registered') return t.fail('not a registration');
      const sealed = first.event.sealed_secret;
      t.is(sealed.kid, keyId(KEY));
      t.is(openSecret(KEY, 'wh_a', sealed), secret);
      t.throws(
        () => openSecret(KEY, 'wh_b', sealed),
        { message: /sealed with key/ },
        'bound to its endpoint',
      );
    },
  );

  storeTest(
    'a checkpoint moves only from the revision its writer read; the last event is the checkpoint',
    async (t, store) => {
      const log = new WebhookLog(store, `${WEBHOOK_STREAM_PREFIX}${randomUUID().slice(0, 8)}-`);
      const ack = (position: string, checkpoint: string) => ({
        type: 'webhook_delivery_acknowledged' as const,
        endpoint_id: 'wh_c',
        position,
        event_id: randomUUID(),
        status: 'delivered' as const,
        at: new Date().toISOString(),
        attempt_count: 1,
        status_code: 204,
        redelivery: false,
        checkpoint,
      });
      const fresh = await log.readCheckpoint('wh_c');
      t.deepEqual(fresh, { revision: 'no_stream', checkpoint: null, exists: false });
      // two senders read the same state; the first write wins, the second is refused
      const a = await log.checkpoint('wh_c', ack('10', '10'), fresh.revision);
      t.is(a.revision, 0);
      const stale = await t.throwsAsync(log.checkpoint('wh_c', ack('10', '10'), fresh.revision));
      t.true(isWrongExpectedRevisionError(stale));
      const read = await log.readCheckpoint('wh_c');
      t.deepEqual(read, { revision: 0, checkpoint: '10', exists: true });
      t.true(
        isWrongExpectedRevisionError(
          await log.checkpoint('wh_c', ack('11', '11'), 5).catch((e: unknown) => e),
        ),
      );
      await log.checkpoint('wh_c', ack('12', '12'), read.revision);
      // a redelivery of an older event does not move the checkpoint back
      await log.checkpoint('wh_c', { ...ack('3', '12'), redelivery: true }, 1);
      t.deepEqual(await log.readCheckpoint('wh_c'), { revision: 2, checkpoint: '12', exists: true });
      t.is(
        (await store.getStreamMetadata(log.checkpointStream('wh_c'))).maxCount,
        CHECKPOINT_STREAM_MAX_COUNT,
      );
      // deleting the endpoint's stream starts it over
      await log.deleteCheckpoint('wh_c');
      t.like(await log.readCheckpoint('wh_c'), { checkpoint: null, exists: false });
    },
  );
}
