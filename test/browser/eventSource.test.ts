import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { BrowserContext, Page } from 'playwright-core';
import type { StageLogRecord } from '../../src/domain/logRecord.ts';
import { logStreamName, toLogEventData } from '../../src/infra/eventstore/stageLogStreams.ts';
import { type LaunchedChromium, launchChromium } from '../helpers/chromium.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

/** A plain browser EventSource, as any client would write it: `onmessage` only, nothing of the bundled UI. */

let server: TestServer;
let browser: BrowserContext;
let chrome: LaunchedChromium;

test.before(async () => {
  server = await startTestServer({ streaming: { heartbeat_seconds: 1, retry_ms: 500 } });
  chrome = await launchChromium();
  browser = chrome.context;
});
test.after.always(async () => {
  await chrome?.close();
  await server?.stop();
});

const post = async (path: string, body: unknown = {}) => {
  const res = await server.api(path, { method: 'POST', json: body });
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return res;
};

async function newJob(): Promise<string> {
  return (await json<{ job: { job_id: string } }>(await post('/jobs', { pipeline: 'external' }))).job.job_id;
}

async function finish(id: string): Promise<void> {
  await post(`/jobs/${id}/start`);
  for (const step of ['ingest/start', 'ingest/complete', 'review/start', 'review/complete'])
    await post(`/jobs/${id}/stages/${step}`);
  await post(`/jobs/${id}/gates/review/approve`, { comment: 'ok' });
  for (const step of ['publish/start', 'publish/complete']) await post(`/jobs/${id}/stages/${step}`);
}

/** A blank page of the server's origin (EventSource is same-origin there). */
async function blankPage(): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${server.url}/api/v1/healthz`);
  return page;
}

interface Seen {
  events: { id: string; type: string; seq: number }[];
  heartbeats: number;
}

test('a Chromium EventSource with only onmessage sees every event of a job (and its heartbeats)', async (t) => {
  const id = await newJob();
  const page = await blankPage();
  await page.evaluate(
    ({ url }) => {
      const seen: Seen = { events: [], heartbeats: 0 };
      (window as unknown as { seen: Seen }).seen = seen;
      const source = new EventSource(url);
      source.onmessage = (message) => {
        const data = JSON.parse(message.data) as { type: string; seq: number };
        if (data.type === 'heartbeat') seen.heartbeats++;
        else seen.events.push({ id: message.lastEventId, type: data.type, seq: data.seq });
      };
    },
    { url: `/api/v1/jobs/${id}/events/stream?after=-1&access_token=${TOKENS.viewer}` },
  );
  // A heartbeat first, while the job waits (heartbeat_seconds is 1): a job that ends at once closes its
  // stream before any heartbeat is due.
  await page.waitForFunction(() => (window as unknown as { seen: Seen }).seen.heartbeats > 0, undefined, {
    timeout: 10_000,
  });
  await finish(id);
  const polled = (
    await json<{ events: { seq: number; type: string }[] }>(await server.api(`/jobs/${id}/events?after=-1`))
  ).events;
  t.is(polled.length, 12);
  await page.waitForFunction(
    (n) => (window as unknown as { seen: Seen }).seen.events.length >= n,
    polled.length,
    { timeout: 10_000 },
  );
  const seen = await page.evaluate(() => (window as unknown as { seen: Seen }).seen);
  t.deepEqual(
    seen.events,
    polled.map((e) => ({ id: String(e.seq), type: e.type, seq: e.seq })),
  );
  t.true(seen.heartbeats > 0);
  await page.close();
});

test('a Chromium EventSource on a finished job ends CLOSED after at most one reconnect: the server counts at most two requests in 10 s', async (t) => {
  t.timeout(30_000);
  const id = await newJob();
  await finish(id);
  const path = `/api/v1/jobs/${id}/events/stream`;
  const requests = () =>
    server.logLines.filter((line) => {
      const record = JSON.parse(line) as { msg?: string; path?: string };
      return record.msg === 'http' && record.path === path;
    }).length;
  const page = await blankPage();
  await page.evaluate(
    ({ url }) => {
      const state = { states: [] as number[], events: 0, ends: 0 };
      (window as unknown as { state: typeof state }).state = state;
      const source = new EventSource(url);
      (window as unknown as { source: EventSource }).source = source;
      source.onmessage = () => state.events++;
      source.addEventListener('end', () => state.ends++);
      source.onerror = () => state.states.push(source.readyState);
    },
    { url: `${path}?access_token=${TOKENS.viewer}` },
  );
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const state = await page.evaluate(() => ({
    ...(window as unknown as { state: { states: number[]; events: number; ends: number } }).state,
    readyState: (window as unknown as { source: EventSource }).source.readyState,
  }));
  t.is(state.readyState, 2, 'EventSource.CLOSED: the browser stopped reconnecting');
  t.is(state.ends, 1, 'the first connection got end');
  const count = requests();
  t.log(`requests from the EventSource in 10 s: ${count}`);
  t.true(count >= 1 && count <= 2, `${count} requests`);
  await page.close();
});

test('a Chromium EventSource following a finished stage log gets every line, then end, and stops after one reconnect (204)', async (t) => {
  t.timeout(30_000);
  const id = await newJob();
  await post(`/jobs/${id}/start`);
  const started = await json<{ events: { seq: number }[] }>(await post(`/jobs/${id}/stages/ingest/start`));
  const record: StageLogRecord = {
    job_id: id,
    stage: 'ingest',
    attempt: 1,
    started_seq: started.events[0]?.seq as number,
    offset: 0,
    lines: ['one', 'two', 'three'].map((text) => ({
      ts: new Date().toISOString(),
      stream: 'stdout' as const,
      text,
    })),
  };
  await server.deps.store.append(logStreamName(id, 'ingest', record.started_seq), [
    toLogEventData(record, randomUUID()),
  ]);
  await post(`/jobs/${id}/stages/ingest/complete`);
  const path = `/api/v1/jobs/${id}/stages/ingest/log`;
  const requests = () =>
    server.logLines.filter((line) => {
      const entry = JSON.parse(line) as { msg?: string; path?: string };
      return entry.msg === 'http' && entry.path === path;
    }).length;
  const page = await blankPage();
  await page.evaluate(
    ({ url }) => {
      const state = { lines: [] as string[], ends: 0 };
      (window as unknown as { state: typeof state }).state = state;
      const source = new EventSource(url);
      (window as unknown as { source: EventSource }).source = source;
      source.onmessage = (e) => state.lines.push(e.data);
      source.addEventListener('end', () => state.ends++);
    },
    { url: `${path}?follow=1&access_token=${TOKENS.viewer}` },
  );
  await new Promise((resolve) => setTimeout(resolve, 6_000));
  const state = await page.evaluate(() => ({
    ...(window as unknown as { state: { lines: string[]; ends: number } }).state,
    readyState: (window as unknown as { source: EventSource }).source.readyState,
  }));
  t.is(state.lines.length, 3);
  t.true(
    state.lines.every((line, i) => line.endsWith(['one', 'two', 'three'][i] as string)),
    state.lines.join('|'),
  );
  t.is(state.ends, 1, 'end once: the reconnect got nothing more');
  t.is(state.readyState, 2, 'EventSource.CLOSED: the browser stopped reconnecting');
  t.is(requests(), 2, 'the stream, then one reconnect answered 204');
  await page.close();
});
