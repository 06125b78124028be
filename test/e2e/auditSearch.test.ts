import test from 'ava';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer } from '../helpers/testServer.ts';

let server: TestServer;

interface Ev {
  id: string;
  job_id: string;
  position: string;
  type: string;
  actor: string;
  message: string;
  ts: string;
}
interface Decision {
  job_id: string;
  pipeline: string | null;
  gate: string;
  decision: string;
  actor: string;
  comment: string | null;
  time: string;
  by_timer: boolean;
  position: string;
}

async function post(path: string, body: unknown = {}, as: 'operator' | 'admin' = 'operator') {
  const res = await server.api(path, { method: 'POST', as, json: body });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

/** A job of the `external` pipeline taken to its review gate. */
async function toGate(id: string): Promise<void> {
  await post('/jobs', { pipeline: 'external', id });
  await post(`/jobs/${id}/start`);
  for (const stage of ['ingest', 'review']) {
    await post(`/jobs/${id}/stages/${stage}/start`);
    await post(`/jobs/${id}/stages/${stage}/complete`, { duration_ms: 5 });
  }
}

const COMMENTS = ['looks good', 'not "ready", sorry', 'line one\nline two', '=1+1', ' padded '];

test.before(async () => {
  server = await startTestServer();
  for (const [i, comment] of COMMENTS.entries()) {
    await toGate(`audit${i}`);
    const decision = i % 2 === 0 ? 'approve' : 'reject';
    await post(`/jobs/audit${i}/gates/review/${decision}`, { comment }, i === 4 ? 'admin' : 'operator');
  }
  await toGate('open');
});
test.after.always(async () => {
  await server?.stop();
});

/** RFC 4180, written here independently of the server's writer. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}

test('GET /audit/gates: every decision, who, what, when, with the comment', async (t) => {
  const res = await server.api('/audit/gates', { as: 'viewer' });
  t.is(res.status, 200);
  const { decisions, next_cursor } = await json<{ decisions: Decision[]; next_cursor: string | null }>(res);
  t.is(next_cursor, null);
  t.deepEqual(
    decisions.map((d) => [d.job_id, d.gate, d.decision, d.actor, d.comment, d.by_timer, d.pipeline]),
    COMMENTS.map((comment, i) => [
      `audit${i}`,
      'review',
      i % 2 === 0 ? 'approved' : 'rejected',
      i === 4 ? 'root' : 'alice',
      comment,
      false,
      'external',
    ]),
  );
  const positions = decisions.map((d) => BigInt(d.position));
  t.deepEqual(
    positions,
    [...positions].sort((a, b) => (a < b ? -1 : 1)),
  );
  t.true(decisions.every((d) => !Number.isNaN(Date.parse(d.time))));
  const one = await json<{ decisions: Decision[] }>(await server.api('/audit/gates?job=audit1'));
  t.deepEqual(
    one.decisions.map((d) => d.job_id),
    ['audit1'],
  );
  const page = await json<{ decisions: Decision[]; next_cursor: string }>(
    await server.api('/audit/gates?limit=2'),
  );
  t.is(page.decisions.length, 2);
  const rest = await json<{ decisions: Decision[] }>(
    await server.api(`/audit/gates?limit=10&cursor=${page.next_cursor}`),
  );
  t.deepEqual(
    [...page.decisions, ...rest.decisions].map((d) => d.job_id),
    decisions.map((d) => d.job_id),
  );
  t.is((await server.api('/audit/gates', { as: null })).status, 401);
});

test('GET /audit/gates as CSV: a header, RFC 4180 quoting, the same rows', async (t) => {
  const json = (await (await server.api('/audit/gates')).json()) as { decisions: Decision[] };
  for (const request of [
    server.api('/audit/gates?format=csv'),
    server.api('/audit/gates', { headers: { accept: 'text/csv' } }),
  ]) {
    const res = await request;
    t.is(res.status, 200);
    t.regex(res.headers.get('content-type') ?? '', /^text\/csv/);
    const text = await res.text();
    t.true(text.endsWith('\r\n'));
    const [header, ...rows] = parseCsv(text);
    t.deepEqual(header, [
      'time',
      'job_id',
      'pipeline',
      'stage',
      'gate',
      'decision',
      'actor',
      'by_timer',
      'comment',
      'reason',
      'position',
      'event_id',
    ]);
    t.is(rows.length, COMMENTS.length);
    t.deepEqual(
      rows.map((r) => r[8]),
      COMMENTS,
    );
    t.deepEqual(
      rows.map((r) => [r[0], r[1], r[5], r[6], r[10]]),
      json.decisions.map((d) => [d.time, d.job_id, d.decision, d.actor, d.position]),
    );
  }
  const limited = parseCsv(await (await server.api('/audit/gates?format=csv&limit=2')).text());
  t.is(limited.length, 3);
  t.is((await server.api('/audit/gates?format=csv&cursor=nope')).status, 400);
});

async function searchAll(query: string, limit = 3): Promise<Ev[]> {
  const out: Ev[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 1000; i++) {
    const res = await server.api(
      `/events/search?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
      {
        as: 'viewer',
      },
    );
    if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
    const page = await json<{ events: Ev[]; next_cursor: string | null }>(res);
    assertOrdered(page.events);
    out.push(...page.events);
    if (page.next_cursor === null) return out;
    cursor = page.next_cursor;
  }
  throw new Error('paging did not end');
}

function assertOrdered(events: Ev[]): void {
  for (let i = 1; i < events.length; i++)
    if (BigInt((events[i] as Ev).position) <= BigInt((events[i - 1] as Ev).position))
      throw new Error('not in position order');
}

async function allEvents(): Promise<Ev[]> {
  return (await json<{ events: Ev[] }>(await server.api('/events?after=-1&limit=1000'))).events;
}

test('GET /events/search: filters, q, time range and cursor pages agree with the full log', async (t) => {
  const all = await allEvents();
  const cases: [string, (e: Ev) => boolean][] = [
    ['type=gate_rejected', (e) => e.type === 'gate_rejected'],
    ['type=gate_approved,gate_rejected', (e) => e.type === 'gate_approved' || e.type === 'gate_rejected'],
    ['actor=root', (e) => e.actor === 'root'],
    ['job=audit3', (e) => e.job_id === 'audit3'],
    ['job=audit3&type=gate_pause', (e) => e.job_id === 'audit3' && e.type === 'gate_pause'],
    [
      'stage=review&status=paused',
      (e) =>
        (e as Ev & { stage: string }).stage === 'review' &&
        (e as Ev & { status: string }).status === 'paused',
    ],
    ['q=SORRY', (e) => e.message.toLowerCase().includes('sorry')],
    [
      `from=${encodeURIComponent((all[10] as Ev).ts)}`,
      (e) => Date.parse(e.ts) >= Date.parse((all[10] as Ev).ts),
    ],
    ['actor=nobody', () => false],
  ];
  for (const [query, keep] of cases) {
    const got = await searchAll(query);
    t.deepEqual(
      got.map((e) => e.id),
      all.filter(keep).map((e) => e.id),
      query,
    );
  }
  t.true((await searchAll('type=gate_rejected')).length === 2);
  for (const bad of ['type=nope', 'from=yesterday', 'cursor=garbage', 'limit=0', 'status=weird']) {
    const res = await server.api(`/events/search?${bad}`);
    t.is(res.status, 400, bad);
  }
  t.is((await server.api('/events/search', { as: null })).status, 401);
  const spec = await json<{ paths: Record<string, { get?: { parameters?: { name: string }[] } }> }>(
    await server.api('/openapi.json', { as: null }),
  );
  t.deepEqual(
    spec.paths['/api/v1/events/search']?.get?.parameters?.map((p) => p.name),
    ['type', 'stage', 'status', 'job', 'actor', 'q', 'from', 'to', 'limit', 'cursor'],
  );
  t.truthy(spec.paths['/api/v1/audit/gates']);
});
