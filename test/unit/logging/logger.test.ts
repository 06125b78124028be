import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import test from 'ava';
import type { EventType, JobEvent } from '../../../src/domain/events.ts';
import { EVENT_TYPES } from '../../../src/domain/events.ts';
import type { Logger } from '../../../src/infra/logging/logger.ts';
import { createLogger, eventLogLevel, logStoredEvent, redactUrl } from '../../../src/infra/logging/logger.ts';
import { redactQuery } from '../../../src/infra/logging/redactQuery.ts';

type LogRecord = Record<string, unknown> & { level: number; msg: string };

function capture(level: 'info' | 'warn' | 'trace' = 'info'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) records.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ level, name: 'operator', destination }), records };
}

function event(type: EventType, overrides: Partial<JobEvent> = {}): JobEvent {
  return {
    id: 'e-1',
    job_id: 'j_01',
    seq: 3,
    position: '1042',
    ts: '2026-11-24T10:00:00.123Z',
    type,
    stage: 'script',
    status: 'running',
    message: `${type} happened`,
    payload: { duration_ms: 2100 },
    actor: 'runner',
    ...overrides,
  };
}

const PINO_LEVELS = { info: 30, warn: 40, error: 50 } as const;
const EXPECTED_LEVEL: Record<EventType, keyof typeof PINO_LEVELS> = {
  job_created: 'info',
  job_started: 'info',
  stage_started: 'info',
  stage_completed: 'info',
  stage_failed: 'error',
  gate_pause: 'info',
  gate_approved: 'info',
  gate_rejected: 'warn',
  gate_auto_approved: 'info',
  job_completed: 'info',
  job_failed: 'error',
  job_canceled: 'warn',
  job_resumed: 'info',
};

test('each of the 13 event types is logged once, at its level', (t) => {
  t.is(EVENT_TYPES.length, 13);
  const { logger, records } = capture();
  for (const type of EVENT_TYPES) logStoredEvent(logger, event(type));
  t.is(records.length, EVENT_TYPES.length);
  for (const [i, type] of EVENT_TYPES.entries()) {
    t.is(eventLogLevel(type), EXPECTED_LEVEL[type], type);
    t.is(records[i]?.level, PINO_LEVELS[EXPECTED_LEVEL[type]], type);
    t.is(records[i]?.type, type);
  }
});

test('an event record is tagged [events] and carries the event fields', (t) => {
  const { logger, records } = capture();
  logStoredEvent(
    logger,
    event('stage_completed', { message: 'stage script completed in 2.1s', status: 'running' }),
  );
  t.is(records.length, 1);
  t.like(records[0], {
    msg: '[events] j_01 #3 stage_completed script: stage script completed in 2.1s',
    name: 'operator',
    job_id: 'j_01',
    seq: 3,
    position: '1042',
    type: 'stage_completed',
    stage: 'script',
    status: 'running',
    actor: 'runner',
  });
});

test('an event without stage or message reads cleanly, and % in a message is kept as is', (t) => {
  const { logger, records } = capture();
  logStoredEvent(logger, event('job_created', { stage: null, message: '', seq: 0, status: 'queued' }));
  logStoredEvent(logger, event('stage_failed', { message: 'exit 1 at 50% (%s)' }));
  t.is(records[0]?.msg, '[events] j_01 #0 job_created');
  t.is(records[0]?.stage, null);
  t.is(records[1]?.msg, '[events] j_01 #3 stage_failed script: exit 1 at 50% (%s)');
});

test('the logger level filters event records', (t) => {
  const { logger, records } = capture('warn');
  for (const type of EVENT_TYPES) logStoredEvent(logger, event(type));
  t.deepEqual(records.map((r) => r.type).sort(), [
    'gate_rejected',
    'job_canceled',
    'job_failed',
    'stage_failed',
  ]);
});

test('the Authorization header is redacted', (t) => {
  const { logger, records } = capture();
  logger.info(
    { req: { method: 'GET', url: '/api/v1/jobs', headers: { authorization: 'Bearer s3cret-1' } } },
    'in',
  );
  logger.info({ headers: { Authorization: 'Bearer s3cret-2', accept: 'text/event-stream' } }, 'in');
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = '/api/v1/jobs';
  req.headers = { authorization: 'Bearer s3cret-3' };
  logger.info({ req }, 'raw request');
  const text = JSON.stringify(records);
  t.false(/s3cret/.test(text), text);
  t.like(records[0], { req: { url: '/api/v1/jobs', headers: { authorization: '[REDACTED]' } } });
  t.like(records[1], { headers: { Authorization: '[REDACTED]', accept: 'text/event-stream' } });
  t.like(records[2], { req: { method: 'GET', headers: { authorization: '[REDACTED]' } } });
});

test('access_token values are redacted from URLs in fields and messages, and bearer tokens from text', (t) => {
  const { logger, records } = capture();
  logger.info({ req: { url: '/api/v1/events/stream?access_token=tok-1&after=3' } }, 'sse');
  logger.info({ url: 'http://host/x?a=1&access_token=tok-2#top', query: { access_token: 'tok-3' } }, 'sse');
  logger.warn(
    'rejected GET /api/v1/jobs/j/events/stream?access_token=tok-4 (sent Authorization: Bearer tok-5)',
  );
  logger.info('interpolated %s', '/stream?access_token=tok-6');
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = '/api/v1/events/stream?access_token=tok-7';
  logger.info({ req }, 'raw request');
  const text = JSON.stringify(records);
  t.false(/tok-\d/.test(text), text);
  t.like(records[0], { req: { url: '/api/v1/events/stream?access_token=[REDACTED]&after=3' } });
  t.like(records[1], {
    url: 'http://host/x?a=1&access_token=[REDACTED]#top',
    query: { access_token: '[REDACTED]' },
  });
  t.is(
    records[2]?.msg,
    'rejected GET /api/v1/jobs/j/events/stream?access_token=[REDACTED] (sent Authorization: Bearer [REDACTED])',
  );
  t.is(records[3]?.msg, 'interpolated /stream?access_token=[REDACTED]');
  t.like(records[4], { req: { url: '/api/v1/events/stream?access_token=[REDACTED]' } });
});

test('redactUrl replaces only the access_token value', (t) => {
  t.is(redactUrl('/s?access_token=abc'), '/s?access_token=[REDACTED]');
  t.is(redactUrl('/s?after=3&access_token=abc&since=x'), '/s?after=3&access_token=[REDACTED]&since=x');
  t.is(redactUrl('https://h:1/s?access_token=a.b-c#frag'), 'https://h:1/s?access_token=[REDACTED]#frag');
  t.is(redactUrl('/s?access_token='), '/s?access_token=[REDACTED]');
  t.is(redactUrl('/s?my_access_token=abc'), '/s?my_access_token=abc');
  t.is(redactUrl('/s?after=3'), '/s?after=3');
});

test('events whose message carries a URL with a token are redacted too', (t) => {
  const { logger, records } = capture();
  logStoredEvent(
    logger,
    event('stage_failed', { message: 'GET https://x/y?access_token=tok-8 returned 500' }),
  );
  t.is(
    records[0]?.msg,
    '[events] j_01 #3 stage_failed script: GET https://x/y?access_token=[REDACTED] returned 500',
  );
});

test('redactQuery: credential-like keys lose their value; a key named __proto__ stays a key of the line, not the copy’s prototype', (t) => {
  // As koa parses a query: an object without a prototype, so `__proto__` is an ordinary key there.
  const query = Object.assign(Object.create(null) as Record<string, unknown>, {
    access_token: 'secret',
    after: '5',
    job: ['a', 'b'],
  });
  Object.defineProperty(query, '__proto__', { value: ['x', 'y'], enumerable: true });
  const out = redactQuery(query);
  t.is(Object.getPrototypeOf(out), Object.prototype);
  t.deepEqual(Object.keys(out), ['access_token', 'after', 'job', '__proto__']);
  t.is(
    JSON.stringify(out),
    '{"access_token":"[REDACTED]","after":"5","job":["a","b"],"__proto__":["x","y"]}',
  );
});
