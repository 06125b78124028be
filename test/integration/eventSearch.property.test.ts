import test from 'ava';
import fc from 'fast-check';
import type { JobEvent } from '../../src/domain/events.ts';
import { EVENT_TYPES, JOB_STATUSES, toCanonicalJson } from '../../src/domain/events.ts';
import type { EventSearchQuery } from '../../src/projections/eventSearch.ts';
import { EventSearch, SearchIndexBuildingError } from '../../src/projections/eventSearch.ts';
import { ReadModelProjection } from '../../src/projections/index.ts';
import { padPosition } from '../../src/projections/positions.ts';
import { removeSearchPostings, TermSource, writeSearchPostings } from '../../src/projections/searchIndex.ts';
import { Budget, nextPosition } from '../../src/projections/searchJoin.ts';
import { removeJobRows } from '../../src/retention/removeJobRows.ts';
import { tempReadModel } from '../helpers/projectionHarness.ts';

// A generated history: 10k events over 150 jobs, positions with gaps and above 2^53, timestamps that are
// not in position order (and some without milliseconds), two actors longer than the indexed prefix that
// share it, messages in mixed case.
const JOBS = Array.from({ length: 150 }, (_, i) => `job_${i}`);
const STAGES = ['script', 'storyboard', 'render', 'Review'];
const LONG = 'x'.repeat(250);
const ACTORS = ['alice', 'bob', 'runner', 'timer', 'Zoë', 'auditor', `${LONG}-one`, `${LONG}-two`];
const WORDS = ['Stage', 'script', 'COMPLETED', 'gate', 'Approved', 'by', 'Zoë', 'in', '2.1s', 'ÉTÉ', 'retry'];
const BASE_TS = Date.parse('2026-11-24T10:00:00.000Z');
const SPAN_MS = 3_600_000;

const rareWeighted = <T>(common: T[], rare: T, rareWeight = 1) =>
  fc.oneof(
    { weight: 100, arbitrary: fc.constantFrom(...common) },
    { weight: rareWeight, arbitrary: fc.constant(rare) },
  );

const eventSpecArb = fc.record({
  job: fc.nat(JOBS.length - 1),
  type: fc.constantFrom(...EVENT_TYPES),
  stage: fc.option(fc.constantFrom(...STAGES), { freq: 4 }),
  status: fc.constantFrom(...JOB_STATUSES),
  actor: rareWeighted(
    ACTORS.filter((a) => a !== 'auditor'),
    'auditor',
    2,
  ),
  words: fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 6 }),
  tsOffset: fc.integer({ min: 0, max: SPAN_MS }),
  wholeSecond: fc.boolean(),
  gap: fc.integer({ min: 1, max: 3 }),
});

type Spec = fc.Arbitrary<typeof eventSpecArb extends fc.Arbitrary<infer T> ? T : never>;

function buildHistory(
  specs: (Spec extends fc.Arbitrary<infer T> ? T : never)[],
  start: bigint,
  seqs: Map<string, number>,
) {
  let position = start;
  return specs.map((s): JobEvent => {
    position += BigInt(s.gap);
    const jobId = JOBS[s.job] as string;
    const seq = seqs.get(jobId) ?? 0;
    seqs.set(jobId, seq + 1);
    const time = BASE_TS + s.tsOffset;
    const ts = s.wholeSecond
      ? new Date(Math.floor(time / 1000) * 1000).toISOString().replace('.000Z', 'Z')
      : new Date(time).toISOString();
    return {
      id: `${jobId}-${seq}`,
      job_id: jobId,
      seq,
      position: position.toString(),
      ts,
      type: s.type,
      stage: s.stage,
      status: s.status,
      message: s.words.join(' '),
      payload: {},
      actor: s.actor,
    };
  });
}

/** What the reference reads of an event, computed once per event rather than once per query. */
interface EventFacts {
  json: string;
  ms: number;
  lowerMessage: string;
}
const factsCache = new WeakMap<JobEvent, EventFacts>();
function factsOf(e: JobEvent): EventFacts {
  let facts = factsCache.get(e);
  if (!facts) {
    facts = { json: toCanonicalJson(e), ms: Date.parse(e.ts), lowerMessage: e.message.toLowerCase() };
    factsCache.set(e, facts);
  }
  return facts;
}

/** The reference: a plain filter over every event, written independently of the index code. */
function bruteForce(events: readonly JobEvent[], q: Omit<EventSearchQuery, 'limit' | 'cursor'>): string[] {
  const from = q.from === undefined ? undefined : Date.parse(q.from);
  const to = q.to === undefined ? undefined : Date.parse(q.to);
  const text = q.q?.toLowerCase();
  return events
    .filter(
      (e) =>
        (!q.types || q.types.length === 0 || q.types.includes(e.type)) &&
        (q.stage === undefined || e.stage === q.stage) &&
        (q.status === undefined || e.status === q.status) &&
        (q.actor === undefined || e.actor === q.actor) &&
        (q.jobId === undefined || e.job_id === q.jobId) &&
        (from === undefined || factsOf(e).ms >= from) &&
        (to === undefined || factsOf(e).ms < to) &&
        (text === undefined || factsOf(e).lowerMessage.includes(text)),
    )
    .map((e) => factsOf(e).json);
}

const isoAt = (offset: number) => new Date(BASE_TS + offset).toISOString();

const FILTERS = ['types', 'stage', 'status', 'actor', 'jobId', 'q', 'from', 'to'] as const;
type Filters = Omit<EventSearchQuery, 'limit' | 'cursor'>;

const anyValue = {
  types: fc.uniqueArray(fc.constantFrom(...EVENT_TYPES), { minLength: 1, maxLength: 3 }),
  stage: fc.constantFrom(...STAGES, 'nope'),
  status: fc.constantFrom(...JOB_STATUSES),
  actor: fc.constantFrom(...ACTORS, `${LONG}-three`),
  jobId: fc.constantFrom(...JOBS, 'job_none'),
  q: fc.constantFrom('stage', 'COMPLETED', 'zoë', 'été', 'approved by', '2.1S', 'missing', 'e'),
  from: fc.integer({ min: -1000, max: SPAN_MS }).map(isoAt),
  to: fc.integer({ min: 0, max: SPAN_MS + 1000 }).map(isoAt),
};

/**
 * Up to four filters; most take their value from one event of the history (so most queries match
 * something), the rest any value (so some match nothing).
 */
function queryArb(history: readonly JobEvent[]): fc.Arbitrary<Filters> {
  return fc
    .tuple(
      fc.subarray([...FILTERS], { maxLength: 4 }),
      fc.nat(history.length - 1),
      fc.record(anyValue),
      fc.array(fc.boolean(), { minLength: FILTERS.length, maxLength: FILTERS.length }),
      fc.integer({ min: 1, max: 4 }),
    )
    .map(([fields, index, random, useRandom, wordCount]) => {
      const e = history[index] as JobEvent;
      const fromEvent: Filters = {
        types: [e.type],
        stage: e.stage ?? 'nope',
        status: e.status,
        actor: e.actor,
        jobId: e.job_id,
        q: e.message.slice(0, wordCount * 3).toUpperCase(),
        from: new Date(Date.parse(e.ts) - 600_000).toISOString(),
        to: new Date(Date.parse(e.ts) + 600_000).toISOString(),
      };
      const query: Record<string, unknown> = {};
      for (const [i, field] of fields.entries())
        query[field] = (useRandom[i] && useRandom[i + 1] ? random : fromEvent)[field];
      return query as Filters;
    });
}

interface Paged {
  events: string[];
  pages: { cursor: string | undefined; events: string[]; next: string | null }[];
}

function pageAll(
  search: EventSearch,
  query: Omit<EventSearchQuery, 'limit' | 'cursor'>,
  limit: number,
): Paged {
  const out: Paged = { events: [], pages: [] };
  let cursor: string | undefined;
  for (let calls = 0; calls < 100_000; calls++) {
    const page = search.search({ ...query, limit, cursor });
    out.pages.push({ cursor, events: page.events, next: page.next_cursor });
    out.events.push(...page.events);
    if (page.next_cursor === null) return out;
    cursor = page.next_cursor;
  }
  throw new Error('paging did not end');
}

const positionOf = (json: string) => BigInt((JSON.parse(json) as JobEvent).position);

async function applyAll(projection: ReadModelProjection, events: readonly JobEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) await projection.apply(events.slice(i, i + 500));
}

test('search over 10k events matches a brute-force filter, in position order, with stable paging', async (t) => {
  t.timeout(120_000);
  const { store } = await tempReadModel(t, 'operator-search-');
  const seqs = new Map<string, number>();
  const [specs] = fc.sample(fc.array(fc.noBias(eventSpecArb), { minLength: 10_000, maxLength: 10_000 }), {
    numRuns: 1,
    seed: 8,
  });
  const history = buildHistory(specs as never, 9_007_199_254_700_000n, seqs);
  const projection = new ReadModelProjection({ store });
  await applyAll(projection, history);
  t.is(history.length, 10_000);

  let nonEmpty = 0;
  let multiPage = 0;
  fc.assert(
    fc.property(
      queryArb(history),
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 20, max: 4000 }),
      (query, limit, scanBudget) => {
        const search = new EventSearch(store, { scanBudget });
        const expected = bruteForce(history, query);
        const paged = pageAll(search, query, limit);
        if (expected.length > 0) nonEmpty++;
        if (paged.pages.length > 2) multiPage++;
        if (paged.events.length !== expected.length || paged.events.some((e, i) => e !== expected[i]))
          throw new Error(`got ${paged.events.length} events, expected ${expected.length}`);
        for (const page of paged.pages) {
          if (page.events.length > limit) throw new Error('page over the limit');
          // positions strictly increase within a page
          for (let i = 1; i < page.events.length; i++)
            if (positionOf(page.events[i] as string) <= positionOf(page.events[i - 1] as string))
              throw new Error('out of position order');
        }
        // the same cursor gives the same page
        const again = paged.pages[Math.floor(paged.pages.length / 2)];
        if (again) {
          const page = search.search({ ...query, limit, cursor: again.cursor });
          if (JSON.stringify(page.events) !== JSON.stringify(again.events) || page.next_cursor !== again.next)
            throw new Error('a cursor gave a different page the second time');
        }
      },
    ),
    { numRuns: 150, seed: 42 },
  );
  // the generated queries are not all trivially empty, and paging is exercised
  t.true(nonEmpty > 50, `${nonEmpty} queries with results`);
  t.true(multiPage > 50, `${multiPage} queries over several pages`);

  // Paging is stable while the log grows: a cursor taken before new events keeps its place.
  const query = { q: 'stage', status: 'running' };
  const search = new EventSearch(store, { scanBudget: 300 });
  const first = search.search({ ...query, limit: 25 });
  t.truthy(first.next_cursor);
  const [more] = fc.sample(fc.array(fc.noBias(eventSpecArb), { minLength: 2000, maxLength: 2000 }), {
    numRuns: 1,
    seed: 9,
  });
  const grown = buildHistory(more as never, BigInt((history.at(-1) as JobEvent).position), seqs);
  await applyAll(projection, grown);
  const rest = pageAll(search, query, 40);
  // pageAll starts from the beginning; continue from the old cursor instead
  let cursor: string | null = first.next_cursor;
  const continued = [...first.events];
  while (cursor !== null) {
    const page = search.search({ ...query, limit: 40, cursor });
    continued.push(...page.events);
    cursor = page.next_cursor;
  }
  const all = [...history, ...grown];
  t.deepEqual(continued, bruteForce(all, query));
  t.deepEqual(rest.events, bruteForce(all, query));
});

test('selective filters are served by indexes: a small scan budget is enough', async (t) => {
  const { store } = await tempReadModel(t, 'operator-search-');
  const [specs] = fc.sample(fc.array(fc.noBias(eventSpecArb), { minLength: 10_000, maxLength: 10_000 }), {
    numRuns: 1,
    seed: 3,
  });
  const history = buildHistory(specs as never, 0n, new Map());
  await applyAll(new ReadModelProjection({ store }), history);
  // One call, a budget a fraction of the log: only the index entries of the filter are examined.
  const oneCall = (query: Omit<EventSearchQuery, 'limit' | 'cursor'>, budget: number) => {
    const expected = bruteForce(history, query);
    t.true(
      expected.length > 0 && expected.length * 4 < budget,
      `${JSON.stringify(query)}: ${expected.length}`,
    );
    const page = new EventSearch(store, { scanBudget: budget }).search({ ...query, limit: 1000 });
    t.deepEqual(page.events, expected, JSON.stringify(query));
    t.is(page.next_cursor, null);
  };
  oneCall({ jobId: 'job_7' }, 500);
  oneCall({ actor: 'auditor' }, 1000);
  oneCall({ actor: 'auditor', types: ['job_created', 'gate_pause', 'stage_failed'] }, 2500);
  oneCall({ jobId: 'job_3', status: 'running' }, 600);
  oneCall({ actor: `${LONG}-one`, jobId: 'job_9' }, 600);
  // q alone must scan: each call stops at its budget and hands back a cursor
  const page = new EventSearch(store, { scanBudget: 500 }).search({ q: 'missing', limit: 10 });
  t.deepEqual(page.events, []);
  t.truthy(page.next_cursor);
  t.throws(() => new EventSearch(store).search({ limit: 5, cursor: 'garbage' }), { message: /cursor/ });
});

test('retention removes a job from the search index too; an older generation (or one of the first search layout) gets its search and time indexes once', async (t) => {
  const { store } = await tempReadModel(t, 'operator-search-');
  const [specs] = fc.sample(fc.array(fc.noBias(eventSpecArb), { minLength: 3000, maxLength: 3000 }), {
    numRuns: 1,
    seed: 5,
  });
  const history = buildHistory(specs as never, 0n, new Map());
  const projection = new ReadModelProjection({ store });
  await applyAll(projection, history);
  const t1 = store.tables();
  await removeJobRows(store, t1.generation, 'job_4');
  const job4 = new Set(history.filter((e) => e.job_id === 'job_4').map((e) => padPosition(e.position)));
  t.true(job4.size > 0);
  const left = [...t1.searchPostings.getRange({})].flatMap(({ value }) =>
    (value.match(/\d{20}/g) ?? []).filter((p) => job4.has(p)),
  );
  t.deepEqual(left, []);
  const kept = history.filter((e) => e.job_id !== 'job_4');
  t.deepEqual(
    pageAll(new EventSearch(store), { status: 'running' }, 500).events,
    bruteForce(kept, { status: 'running' }),
  );

  // a generation written before the indexes existed: searches wait (503) until the projection indexes it
  const timeRows = [...t1.eventsByTime.getRange({})];
  t.true(timeRows.length > 2000, 'more rows than one backfill chunk');
  await t1.eventsByTime.clearAsync();
  await t1.checkpoints.remove('time_index');
  // ...and one of the search index's first layout: a row per event and term in events_by_field, marked 1
  await t1.searchPostings.clearAsync();
  await t1.checkpoints.put('search_index', '1');
  await t1.eventsByField.put(['type', 'job_created', padPosition('1')], ['job_1', 1]);
  const error = t.throws(() => new EventSearch(store).search({ limit: 5 }));
  t.true(error instanceof SearchIndexBuildingError);
  t.is((error as SearchIndexBuildingError).kind, 'unavailable');
  const reopened = new ReadModelProjection({ store });
  await reopened.checkpoint();
  t.deepEqual(
    pageAll(new EventSearch(store), { actor: 'auditor' }, 50).events,
    bruteForce(kept, { actor: 'auditor' }),
  );
  t.is(t1.checkpoints.get('search_index'), '2');
  t.deepEqual([...t1.eventsByField.getRange({})], [], "the first layout's rows are dropped");
  // the time index is backfilled the same way: the same rows, the generation marked
  t.deepEqual([...t1.eventsByTime.getRange({})], timeRows);
  t.is(t1.checkpoints.get('time_index'), '1');
});

test('search postings: rows of at most 1,000 positions; a term read from any position; removals empty rows', async (t) => {
  const { store } = await tempReadModel(t, 'operator-search-');
  const g = store.tables();
  // 2,500 events of one type, every third with a stage, written in two batches (the second above the first)
  const events = Array.from({ length: 2500 }, (_, i) => ({
    type: 'stage_started',
    position: String(10 + i * 7),
    ...(i % 3 === 0 ? { stage: 'build' } : {}),
    status: 'running',
    actor: 'runner',
  })) as unknown as JobEvent[];
  await g.checkpoints.transaction(() => writeSearchPostings(g, events.slice(0, 1800)));
  await g.checkpoints.transaction(() => writeSearchPostings(g, events.slice(1800)));
  const rows = [
    ...g.searchPostings.getRange({
      start: ['type', 'stage_started', ''],
      end: ['type', 'stage_started', '\uffff'],
    }),
  ];
  t.deepEqual(
    rows.map(({ value }) => value.length / 20),
    [1000, 800, 700],
  );
  const all = events.map((e) => padPosition(e.position));
  // a term read from `from` by seeks to the position after each hit, or by the given targets
  const read = (field: 'type' | 'stage', value: string, from: string, targets?: string[]) => {
    const transaction = store.env.useReadTransaction();
    const source = new TermSource(g, transaction, field, value, new Budget(1e9));
    try {
      const out: (string | null)[] = [];
      if (targets) return targets.map((target) => source.seek(target)?.position ?? null);
      for (let hit = source.seek(from); hit; hit = source.seek(nextPosition(hit.position)))
        out.push(hit.position);
      return out;
    } finally {
      source.close();
      transaction.done();
    }
  };
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2500 * 7 + 20 }), (n) => {
      const from = padPosition(String(n));
      t.deepEqual(
        read('type', 'stage_started', from),
        all.filter((p) => p >= from),
      );
      const built = events.filter((_, i) => i % 3 === 0).map((e) => padPosition(e.position));
      t.deepEqual(
        read('stage', 'build', from),
        built.filter((p) => p >= from),
      );
    }),
    { numRuns: 50, seed: 11 },
  );
  // increasing seeks, within a row or past it: each the first position at or after its target
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 2500 * 7 + 20 }), { maxLength: 40 }), (ns) => {
      const targets = ns.sort((a, b) => a - b).map((n) => padPosition(String(n)));
      t.deepEqual(
        read('type', 'stage_started', '', targets),
        targets.map((target) => all.find((p) => p >= target) ?? null),
      );
    }),
    { numRuns: 100, seed: 12 },
  );
  // any set of postings removed (some not indexed): what is left is exactly the rest
  await fc.assert(
    fc.asyncProperty(
      fc.subarray(all, { maxLength: 600 }),
      fc.array(fc.integer({ min: 0, max: 20_000 })),
      async (gone, stray) => {
        await g.searchPostings.clearAsync();
        await g.checkpoints.transaction(() => writeSearchPostings(g, events.slice(0, 1800)));
        await g.checkpoints.transaction(() => writeSearchPostings(g, events.slice(1800)));
        const postings = [...gone, ...stray.map((n) => padPosition(String(n)))].map(
          (p): ['type', string, string] => ['type', 'stage_started', p],
        );
        await g.checkpoints.transaction(() => removeSearchPostings(g, postings));
        const left = new Set(postings.map(([, , p]) => p));
        t.deepEqual(
          read('type', 'stage_started', ''),
          all.filter((p) => !left.has(p)),
        );
      },
    ),
    { numRuns: 25, seed: 13 },
  );
  await g.searchPostings.clearAsync();
  await g.checkpoints.transaction(() => writeSearchPostings(g, events.slice(0, 1800)));
  await g.checkpoints.transaction(() => writeSearchPostings(g, events.slice(1800)));
  // removing every position of the middle row drops it; a position not indexed is skipped
  const middle = all.slice(1000, 1800).map((p): ['type', string, string] => ['type', 'stage_started', p]);
  await g.checkpoints.transaction(() =>
    removeSearchPostings(g, [
      ...middle,
      ['type', 'stage_started', padPosition('11')],
      ['type', 'nope', all[0] as string],
    ]),
  );
  t.is(
    g.searchPostings.getKeysCount({
      start: ['type', 'stage_started', ''],
      end: ['type', 'stage_started', '\uffff'],
    }),
    2,
  );
  t.deepEqual(read('type', 'stage_started', ''), [...all.slice(0, 1000), ...all.slice(1800)]);
});

test("search postings: one-event batches top up the term's last row up to 64 positions; a large batch fills it to 1,000 first", async (t) => {
  const { store } = await tempReadModel(t, 'operator-topup-');
  const g = store.tables();
  const event = (i: number) =>
    ({
      type: 'gate_pause',
      position: String(5 + i * 3),
      status: 'paused',
      actor: 'runner',
    }) as unknown as JobEvent;
  for (let i = 0; i < 200; i++) await g.checkpoints.transaction(() => writeSearchPostings(g, [event(i)]));
  const rows = () =>
    [
      ...g.searchPostings.getRange({
        start: ['type', 'gate_pause', ''],
        end: ['type', 'gate_pause', '\uffff'],
      }),
    ].map(({ key, value }) => [key[2], value.length / 20] as const);
  t.deepEqual(
    rows().map(([, n]) => n),
    [64, 64, 64, 8],
  );
  t.deepEqual(
    rows().map(([first]) => first),
    [0, 64, 128, 192].map((i) => padPosition(event(i).position)),
    'each row keyed by its first position',
  );
  const big = Array.from({ length: 1000 }, (_, i) => event(200 + i));
  await g.checkpoints.transaction(() => writeSearchPostings(g, big));
  t.deepEqual(
    rows().map(([, n]) => n),
    [64, 64, 64, 1000, 8],
  );
  // Every position readable from anywhere, in order, as one list.
  const all = Array.from({ length: 1200 }, (_, i) => padPosition(event(i).position));
  const transaction = store.env.useReadTransaction();
  try {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1200 * 3 + 10 }), (n) => {
        const from = padPosition(String(n));
        const source = new TermSource(g, transaction, 'type', 'gate_pause', new Budget(1e9));
        const out: string[] = [];
        for (let hit = source.seek(from); hit; hit = source.seek(nextPosition(hit.position)))
          out.push(hit.position);
        source.close();
        t.deepEqual(
          out,
          all.filter((p) => p >= from),
        );
      }),
      { numRuns: 30, seed: 5 },
    );
  } finally {
    transaction.done();
  }
});
