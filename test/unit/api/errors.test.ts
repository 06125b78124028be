import test from 'ava';
import type { Context } from 'koa';
import { pino } from 'pino';
import { z } from 'zod';
import {
  badRequest,
  errorMiddleware,
  forbidden,
  HttpError,
  invalidInput,
  notFound,
  STATUS_OF_KIND,
  statusOf,
  unauthorized,
} from '../../../src/api/errors.ts';
import { TooManyStreamsError } from '../../../src/api/sse/sseHub.ts';
import {
  DomainRuleError,
  ERROR_KINDS,
  InvalidCommandError,
  NotFoundError,
  type OperatorError,
} from '../../../src/domain/errors.ts';
import { ConfigError } from '../../../src/infra/config/configError.ts';
import { UnreadableLogRecordError } from '../../../src/infra/eventstore/stageLogStreams.ts';
import {
  EventStoreClosedError,
  EventStoreUnavailableError,
  InvalidEventStoreArgumentError,
  StorageFullError,
  WrongExpectedRevisionError,
} from '../../../src/infra/eventstore/storeErrors.ts';
import { UnsafeFileError } from '../../../src/infra/files/privateFile.ts';
import { SearchIndexBuildingError } from '../../../src/projections/eventSearch.ts';
import { RebuildAbortedError } from '../../../src/projections/maintenance/rebuildProjections.ts';
import { InvalidQueryError } from '../../../src/projections/readModel.ts';
import { CheckpointConflictError } from '../../../src/projections/readModelProjection.ts';
import { SecretKeyMismatchError } from '../../../src/webhooks/secretBox.ts';
import { WebhookKeyMissingError } from '../../../src/webhooks/webhookKeyring.ts';
import { OutboxConflictError } from '../../../src/webhooks/webhookProjection.ts';

const withCode = (message: string, code: unknown) => Object.assign(new Error(message), { code });

/** Runs the error middleware over a request whose handler throws `error`; returns what the client gets. */
async function answer(error: unknown): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = {};
  const ctx = {
    state: {},
    method: 'POST',
    path: '/api/v1/jobs',
    headerSent: false,
    respond: true,
    status: 404,
    body: undefined as unknown,
    set: (name: string, value: string) => {
      headers[name] = value;
    },
    response: { get: (name: string) => headers[name] ?? '' },
  };
  await errorMiddleware(pino({ level: 'silent' }))(ctx as unknown as Context, async () => {
    throw error;
  });
  return { status: ctx.status, body: ctx.body };
}

test('every kind maps to one HTTP error status, and no two kinds share one', (t) => {
  t.deepEqual(Object.keys(STATUS_OF_KIND).sort(), [...ERROR_KINDS].sort());
  for (const kind of ERROR_KINDS) {
    const status = STATUS_OF_KIND[kind];
    t.true(Number.isInteger(status) && status >= 400 && status <= 599, `${kind}: ${status}`);
  }
  t.is(new Set(Object.values(STATUS_OF_KIND)).size, ERROR_KINDS.length, 'a status names one kind');
});

// Each error as the code throws it, with the code and status clients have always received for it.
const wire: [OperatorError, string, number][] = [
  [badRequest('no'), 'bad_request', 400],
  [invalidInput('body', z.object({ a: z.string() }).safeParse({}).error as z.ZodError), 'invalid_input', 400],
  [unauthorized('who?'), 'unauthorized', 401],
  [forbidden('no'), 'forbidden', 403],
  [notFound('nothing'), 'not_found', 404],
  [new DomainRuleError('job_terminal', 'job is completed'), 'job_terminal', 409],
  [new InvalidCommandError('unknown_stage', 'no stage mix'), 'unknown_stage', 422],
  [new NotFoundError('job_not_found', 'job not found'), 'job_not_found', 404],
  [new WrongExpectedRevisionError('job-a', 1, 2), 'wrong_expected_revision', 409],
  [new EventStoreClosedError(), 'event_store_closed', 503],
  [new EventStoreUnavailableError('not reachable'), 'event_store_unavailable', 503],
  [new InvalidEventStoreArgumentError('bad name'), 'invalid_event_store_argument', 400],
  [new StorageFullError(withCode('No space left on device', 28)), 'insufficient_storage', 507],
  [new TooManyStreamsError('too many', {}, 3), 'too_many_streams', 429],
  [new HttpError('payload_too_large', 'too big', 'too_large'), 'payload_too_large', 413],
  [new HttpError('unsupported_media_type', 'xml', 'unsupported_media'), 'unsupported_media_type', 415],
  [new RebuildAbortedError(), 'rebuild_aborted', 499],
  [new SearchIndexBuildingError(2), 'search_index_building', 503],
  [new CheckpointConflictError(2, null), 'projection_checkpoint_conflict', 409],
  [new InvalidQueryError('invalid_cursor', 'bad cursor'), 'invalid_cursor', 400],
  [new ConfigError([]), 'invalid_config', 500],
  [new UnreadableLogRecordError('log-a', 3, 'not JSON'), 'unreadable_log_record', 500],
  [new UnsafeFileError('state.json', 'is a symbolic link'), 'unsafe_file', 409],
  [new SecretKeyMismatchError('wh_1', 'k1', 'k2'), 'webhook_secret_unreadable', 409],
  [new WebhookKeyMissingError(), 'webhook_key_missing', 409],
  [new OutboxConflictError(null), 'webhook_outbox_conflict', 409],
];

for (const [error, code, status] of wire)
  test(`${code} (${error.name}) still answers ${status} in the one error shape`, async (t) => {
    t.is(error.code, code);
    t.is(statusOf(error), status);
    const { status: sent, body } = await answer(error);
    t.is(sent, status);
    t.like(body, { error: { code, message: error.message } });
    t.false('status' in error, 'the error itself knows no HTTP status');
  });

test('a bare refusal for want of space answers 507 insufficient_storage; anything else unknown 500', async (t) => {
  const full = await answer(withCode('MDB_MAP_FULL: Environment mapsize limit reached', -30792));
  t.is(full.status, 507);
  t.like(full.body, { error: { code: 'insufficient_storage' } });
  const fault = await answer(new TypeError('x is undefined'));
  t.is(fault.status, 500);
  t.like(fault.body, { error: { code: 'internal' } });
});
