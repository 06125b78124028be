import test from 'ava';
import type { EventSourceMessage } from 'eventsource-parser';
import { ALIAS_FIELDS, CANONICAL_FIELDS, EVENT_ALIASES } from '../../src/domain/events.ts';
import { eventsOnly, isHeartbeat, openRawSse } from '../helpers/sseClient.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

/** The wire contract for clients no one here wrote: aliases both ways, unnamed frames, heartbeats, 204, polling. */

let server: TestServer;
test.before(async () => {
  server = await startTestServer({
    streaming: { heartbeat_seconds: 1 },
    pipeline: { default: 'external', lanes: 100 },
  });
});
test.after.always(() => server?.stop());

type Json = Record<string, unknown>;
const post = (path: string, body: unknown = {}) => server.api(path, { method: 'POST', json: body });
const auth = { authorization: `Bearer ${TOKENS.viewer}` };
const streamUrl = (path: string) => `${server.url}/api/v1${path}`;

async function newJob(): Promise<string> {
  const res = await post('/jobs', { pipeline: 'external' });
  return (await json<{ job: { job_id: string } }>(res)).job.job_id;
}

/** Runs a job of the external pipeline to job_completed (12 events). */
async function finish(id: string): Promise<void> {
  await post(`/jobs/${id}/start`);
  for (const step of ['ingest/start', 'ingest/complete', 'review/start', 'review/complete'])
    await post(`/jobs/${id}/stages/${step}`);
  await post(`/jobs/${id}/gates/review/approve`, { comment: 'ok' });
  for (const step of ['publish/start', 'publish/complete']) await post(`/jobs/${id}/stages/${step}`);
}

/** The alias rendering of one event equals its canonical one field by field, in the same order. */
function assertAliasOf(t: import('ava').ExecutionContext, aliasJson: string, canonicalJson: string) {
  const alias = JSON.parse(aliasJson) as Json;
  const canonical = JSON.parse(canonicalJson) as Json;
  t.deepEqual(Object.keys(alias), [...ALIAS_FIELDS]);
  t.deepEqual(Object.keys(canonical), [...CANONICAL_FIELDS]);
  for (const field of CANONICAL_FIELDS) {
    const name = field in EVENT_ALIASES ? EVENT_ALIASES[field as keyof typeof EVENT_ALIASES] : field;
    t.is(JSON.stringify(alias[name]), JSON.stringify(canonical[field]), `field ${field} as ${name}`);
  }
  // Same bytes otherwise: only the three key names differ.
  t.is(
    aliasJson
      .replace('"timestamp":', '"ts":')
      .replace('"event_type":', '"type":')
      .replace('"metadata":', '"payload":'),
    canonicalJson,
  );
}

test('aliases in: stage and gate bodies accept message, timestamp, event_type and metadata; the event records them', async (t) => {
  const id = await newJob();
  await post(`/jobs/${id}/start`);
  const started = await post(`/jobs/${id}/stages/ingest/start`, {
    message: 'picked up by worker 7',
    metadata: { worker: 7 },
    timestamp: '2026-11-24T10:00:00',
    event_type: 'stage_started',
  });
  t.is(started.status, 200, await started.clone().text());
  const startedEvent = (await json<{ events: { type: string; payload: Json }[] }>(started)).events[0];
  t.is(startedEvent?.type, 'stage_started');
  t.like(startedEvent?.payload, {
    worker: 7,
    message: 'picked up by worker 7',
    reported_ts: '2026-11-24T10:00:00.000Z',
  });
  const completed = await post(`/jobs/${id}/stages/ingest/complete`, {
    message: 'done',
    metadata: { frames: 3 },
  });
  t.is(completed.status, 200);
  t.like((await json<{ events: { payload: Json }[] }>(completed)).events[0]?.payload, {
    frames: 3,
    message: 'done',
  });
  await post(`/jobs/${id}/stages/review/start`);
  await post(`/jobs/${id}/stages/review/complete`);
  const approved = await post(`/jobs/${id}/gates/review/approve`, {
    comment: 'looks right',
    metadata: { ticket: 'OPS-1' },
    event_type: 'gate_approved',
  });
  t.is(approved.status, 200);
  const gateEvent = (await json<{ events: { type: string; payload: Json }[] }>(approved)).events[0];
  t.is(gateEvent?.type, 'gate_approved');
  t.like(gateEvent?.payload, { ticket: 'OPS-1', comment: 'looks right', gate: 'review' });
});

test('aliases in: both names of a field with different values, or an event_type the route does not append, is a 400 naming the field', async (t) => {
  const id = await newJob();
  await post(`/jobs/${id}/start`);
  const cases: [Json, string][] = [
    [{ payload: { a: 1 }, metadata: { a: 2 } }, 'metadata'],
    [{ ts: '2026-11-24T10:00:00Z', timestamp: '2026-11-24T11:00:00Z' }, 'timestamp'],
    [{ type: 'stage_started', event_type: 'stage_failed' }, 'event_type'],
    [{ event_type: 'job_completed' }, 'type'],
    [{ timestamp: 'yesterday' }, 'ts'],
  ];
  for (const [body, field] of cases) {
    const res = await post(`/jobs/${id}/stages/ingest/start`, body);
    t.is(res.status, 400, JSON.stringify(body));
    const error = (await json<{ error: { code: string; details: { path: string }[] } }>(res)).error;
    t.is(error.details[0]?.path, field, JSON.stringify(body));
  }
  // The same value under both names is one field, sent twice.
  const same = await post(`/jobs/${id}/stages/ingest/start`, { payload: { a: 1 }, metadata: { a: 1 } });
  t.is(same.status, 200);
});

test('aliases out: names=alias on polling (per job and global) renders the same events with timestamp, event_type, metadata, field by field', async (t) => {
  const id = await newJob();
  await finish(id);
  const canonical = await json<{ events: Json[] }>(await server.api(`/jobs/${id}/events?after=-1`));
  const aliasText = await (await server.api(`/jobs/${id}/events?after=-1&names=alias`)).text();
  const alias = JSON.parse(aliasText) as { events: Json[]; head: number };
  t.is(alias.events.length, canonical.events.length);
  for (const [i, event] of alias.events.entries())
    assertAliasOf(t, JSON.stringify(event), JSON.stringify(canonical.events[i]));
  const globalCanonical = await json<{ events: Json[] }>(await server.api(`/events?job=${id}`));
  const globalAlias = await json<{ events: Json[] }>(await server.api(`/events?job=${id}&names=alias`));
  for (const [i, event] of globalAlias.events.entries())
    assertAliasOf(t, JSON.stringify(event), JSON.stringify(globalCanonical.events[i]));
  t.is((await server.api(`/jobs/${id}/events?names=seed`)).status, 400);
});

test('aliases out: names=alias on both streams, events and heartbeats, field by field against the canonical stream', async (t) => {
  const id = await newJob();
  await finish(id);
  const read = async (query: string) => {
    const sse = await openRawSse(streamUrl(`/jobs/${id}/events/stream?after=-1${query}`), auth);
    await sse.until((m) => m.some((x) => x.event === 'end'));
    return sse.messages;
  };
  const canonical = eventsOnly(await read(''));
  const alias = eventsOnly(await read('&names=alias'));
  t.is(alias.length, 12);
  for (const [i, m] of alias.entries()) {
    t.is(m.id, canonical[i]?.id);
    assertAliasOf(t, m.data, canonical[i]?.data ?? '');
  }
  const all = await openRawSse(streamUrl(`/events/stream?after=-1&job=${id}&names=alias`), auth);
  await all.until((m) => eventsOnly(m).length >= 12 && m.some(isHeartbeat), 5000);
  all.abort();
  for (const [i, m] of eventsOnly(all.messages).entries()) assertAliasOf(t, m.data, canonical[i]?.data ?? '');
  const beat = JSON.parse(all.messages.find(isHeartbeat)?.data ?? '{}') as Json;
  t.deepEqual(Object.keys(beat), ['event_type', 'timestamp', 'job_id']);
  t.is(beat.event_type, 'heartbeat');
  t.is(beat.job_id, null);
});

test('frames: unnamed by default (id + data, the type in the JSON); frames=named adds event: <type>; heartbeats carry type, ts and job_id', async (t) => {
  const id = await newJob();
  await post(`/jobs/${id}/start`);
  const plain = await openRawSse(streamUrl(`/jobs/${id}/events/stream?after=-1`), auth);
  const named = await openRawSse(streamUrl(`/jobs/${id}/events/stream?after=-1&frames=named`), auth);
  const hasBeat = (m: EventSourceMessage[]) => m.some(isHeartbeat);
  await plain.until((m) => eventsOnly(m).length >= 2 && hasBeat(m), 5000);
  await named.until((m) => eventsOnly(m).length >= 2 && hasBeat(m), 5000);
  plain.abort();
  named.abort();
  for (const m of eventsOnly(plain.messages)) {
    t.is(m.event, undefined);
    t.truthy(m.id);
  }
  t.deepEqual(
    eventsOnly(named.messages).map((m) => m.event),
    eventsOnly(named.messages).map((m) => (JSON.parse(m.data) as { type: string }).type),
  );
  const beat = plain.messages.find(isHeartbeat) as EventSourceMessage;
  t.is(beat.event, undefined, 'a heartbeat is an unnamed event: onmessage sees it');
  t.is(beat.id, undefined, 'without id: it never moves the resume point');
  const data = JSON.parse(beat.data) as Json;
  t.deepEqual(Object.keys(data), ['type', 'ts', 'job_id']);
  t.is(data.type, 'heartbeat');
  t.is(data.job_id, id);
  t.false(Number.isNaN(Date.parse(String(data.ts))));
  t.is(named.messages.find(isHeartbeat)?.event, 'heartbeat');
  t.is(plain.messages[0]?.event, 'connected');
});

test('finished means finished: the first connection gets the history and end (id = last seq); a resume at or past the last event is 204, by Last-Event-ID, after or since', async (t) => {
  const id = await newJob();
  await finish(id);
  const first = await openRawSse(streamUrl(`/jobs/${id}/events/stream?after=-1`), auth);
  t.is(first.status, 200);
  await first.closed;
  const end = first.messages.at(-1);
  t.is(end?.event, 'end');
  t.is(end?.id, '11');
  t.is(eventsOnly(first.messages).length, 12);
  const bare = await openRawSse(streamUrl(`/jobs/${id}/events/stream`), auth);
  t.is(bare.status, 200, 'no resume point: connected and end');
  await bare.closed;
  t.deepEqual(
    bare.messages.map((m) => m.event),
    ['connected', 'end'],
  );
  t.is(bare.messages[1]?.id, '11', 'so the browser reconnects with Last-Event-ID 11');
  for (const [how, url, headers] of [
    ['Last-Event-ID', `/jobs/${id}/events/stream`, { ...auth, 'last-event-id': '11' }],
    ['after', `/jobs/${id}/events/stream?after=11`, auth],
    ['since', `/jobs/${id}/events/stream?since=9999-01-01`, auth],
  ] as const) {
    const res = await fetch(streamUrl(url), { headers });
    t.is(res.status, 204, how);
    t.is(await res.text(), '');
  }
  const earlier = await fetch(streamUrl(`/jobs/${id}/events/stream`), {
    headers: { ...auth, 'last-event-id': '9' },
  });
  t.is(earlier.status, 200, 'a resume before the last event still gets the rest');
  await earlier.body?.cancel();
  t.is((await fetch(streamUrl(`/jobs/${id}/events/stream?after=12`), { headers: auth })).status, 204);
});

test('a live job: a resume point past its last event is a 400 (the error shape), not a silent wait', async (t) => {
  const id = await newJob();
  const res = await fetch(streamUrl(`/jobs/${id}/events/stream?after=5`), { headers: auth });
  t.is(res.status, 400);
  t.like(await json<{ error: { details: Json } }>(res), { error: { details: { after: 5, head: 0 } } });
});

test('forgiving polling: a naive since is UTC, a date is its midnight UTC, a limit above 1000 is clamped and the answer says so', async (t) => {
  const id = await newJob();
  await finish(id);
  const events = (
    await json<{ events: { ts: string; seq: number }[] }>(await server.api(`/jobs/${id}/events?after=-1`))
  ).events;
  const third = events[3] as { ts: string; seq: number };
  const naive = third.ts.replace(/Z$/, '');
  const a = await json<{ events: { seq: number }[] }>(await server.api(`/jobs/${id}/events?since=${naive}`));
  const b = await json<{ events: { seq: number }[] }>(
    await server.api(`/jobs/${id}/events?since=${third.ts}`),
  );
  t.deepEqual(a, b, 'naive = UTC');
  t.is(a.events[0]?.seq, third.seq);
  const day = third.ts.slice(0, 10);
  const byDate = await json<{ events: { seq: number }[] }>(
    await server.api(`/jobs/${id}/events?since=${day}`),
  );
  t.is(byDate.events[0]?.seq, 0, 'a date: from its midnight');
  const offset = await server.api(`/jobs/${id}/events?since=${encodeURIComponent(`${day}T00:00:00+00:00`)}`);
  t.is(offset.status, 200);
  const clamped = await json<{ limit: number; events: unknown[] }>(
    await server.api(`/jobs/${id}/events?limit=5000`),
  );
  t.is(clamped.limit, 1000);
  t.is(clamped.events.length, 12);
  const small = await json<{ limit: number; events: unknown[]; head: number; next_after: number }>(
    await server.api(`/jobs/${id}/events?after=-1&limit=3`),
  );
  t.is(small.limit, 3);
  t.is(small.events.length, 3);
  t.like(small, { head: 11, next_after: 2 });
  const global = await json<{ limit: number }>(await server.api('/events?limit=99999'));
  t.is(global.limit, 1000);
  for (const bad of ['yesterday', '2026-13-45', '2026-11-24T25:00:00'])
    t.is((await server.api(`/jobs/${id}/events?since=${bad}`)).status, 400, bad);
  t.is((await server.api(`/jobs/${id}/events?limit=0`)).status, 400);
});
