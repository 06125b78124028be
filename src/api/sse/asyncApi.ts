import { z } from 'zod';
import type { EventType } from '../../domain/events.ts';
import {
  EVENT_ALIASES,
  EVENT_TYPES,
  jobEventSchema,
  toAliasJson,
  toCanonicalJson,
} from '../../domain/events.ts';
import { allStreamQuery, jobStreamQuery } from '../schemas.ts';

type Json = Record<string, unknown>;

const toSchema = (schema: z.ZodType, io: 'input' | 'output' = 'output'): Json => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'draft-7',
    unrepresentable: 'any',
  }) as Json;
  return rest;
};

const heartbeatSchema = z
  .object({
    type: z.literal('heartbeat'),
    ts: z.iso.datetime().describe('server time of the tick'),
    job_id: z.string().nullable().describe("the stream's job; null on the all-jobs stream"),
  })
  .describe('sent every streaming.heartbeat_seconds; no id: it never moves the resume point');
const connectedSchema = z
  .object({
    job_id: z.string().optional().describe('per-job stream: the job'),
    after: z
      .union([z.number().int(), z.string()])
      .describe('where the stream starts: a seq (per job) or a position (all jobs); events after it follow'),
    server_time: z.iso.datetime(),
  })
  .describe('the first frame of every stream (`event: connected`), after `retry:`');
const endSchema = z
  .object({ job_id: z.string(), seq: z.number().int().describe("the job's last seq") })
  .describe(
    '`event: end` with `id:` = the last seq: the job reached a terminal state; the server closes the stream. A reconnect (Last-Event-ID = that seq) gets 204 No Content, which stops an EventSource.',
  );

const EXAMPLE_TS = '2026-11-24T10:00:00.123Z';

function exampleEvent(type: EventType) {
  return {
    id: '6f1c2b1e-3a0e-4f5e-9a53-1f2d3c4b5a69',
    job_id: 'j_01JD0000000000000000000000',
    seq: 3,
    position: '1042',
    ts: EXAMPLE_TS,
    type,
    stage: type.startsWith('stage_') || type.startsWith('gate_') ? 'script' : null,
    status: 'running' as const,
    message: `${type.replace('_', ' ')}`,
    payload: {},
    actor: 'runner',
  };
}

const messageName = (type: string) => type.replace(/_(\w)/g, (_m, c: string) => c.toUpperCase());

/**
 * The AsyncAPI 3.0 description of the two event streams, generated from the zod schemas the events are
 * validated with: every stored event type, the heartbeat and the control frames, how `id:` and resuming
 * work, the frame and name switches.
 */
export function buildAsyncApi(info: { title: string; version: string }): Json {
  const messages: Record<string, Json> = {};
  const aliasNote = `With names=alias the same JSON has ${Object.entries(EVENT_ALIASES)
    .map(([c, a]) => `\`${a}\` for \`${c}\``)
    .join(', ')}, same order, same values.`;
  for (const type of EVENT_TYPES) {
    const example = exampleEvent(type);
    messages[messageName(type)] = {
      name: type,
      title: type,
      summary: `a stored ${type} event`,
      description: `SSE frame: \`id:\` (seq on a job stream, position on the all-jobs stream) and \`data:\` with this JSON; \`event: ${type}\` too with frames=named. ${aliasNote}`,
      contentType: 'application/json',
      payload: toSchema(jobEventSchema.extend({ type: z.literal(type) })),
      examples: [
        { name: 'canonical', payload: example },
        { name: 'alias', summary: 'names=alias', payload: JSON.parse(toAliasJson(toCanonicalJson(example))) },
      ],
    };
  }
  messages.heartbeat = {
    name: 'heartbeat',
    title: 'heartbeat',
    summary: 'keeps the connection alive and tells the client the stream is healthy',
    description: `An unnamed frame (\`data:\` only; \`event: heartbeat\` with frames=named) without \`id:\`. ${aliasNote}`,
    contentType: 'application/json',
    payload: toSchema(heartbeatSchema),
    examples: [
      {
        name: 'per-job',
        payload: { type: 'heartbeat', ts: EXAMPLE_TS, job_id: 'j_01JD0000000000000000000000' },
      },
    ],
  };
  messages.connected = {
    name: 'connected',
    title: 'connected',
    summary: 'the stream is open',
    description: 'A named control frame (`event: connected`), so onmessage handlers never see it.',
    contentType: 'application/json',
    payload: toSchema(connectedSchema),
  };
  messages.end = {
    name: 'end',
    title: 'end',
    summary: 'a finished job: nothing more will come',
    description: 'A named control frame, per-job stream only.',
    contentType: 'application/json',
    payload: toSchema(endSchema),
  };
  const eventRefs = (extra: string[]) =>
    Object.fromEntries(
      [...EVENT_TYPES.map(messageName), ...extra].map((name) => [
        name,
        { $ref: `#/components/messages/${name}` },
      ]),
    );
  const channelMessageRefs = (channel: string, names: string[]) =>
    names.map((name) => ({ $ref: `#/channels/${channel}/messages/${name}` }));
  const resume =
    'Resume three ways: the Last-Event-ID header (what EventSource sends on reconnect), ?after=<id>, or ?since=<ISO time> (inclusive; a naive time is UTC, a date its midnight). Without any, the stream starts with the next new event. Every stream starts with `retry:` and `event: connected`.';
  const query = (schema: z.ZodType) => ({
    http: { method: 'GET', query: toSchema(schema, 'input'), bindingVersion: '0.3.0' },
  });
  return {
    asyncapi: '3.0.0',
    info: {
      ...info,
      description:
        'Server-Sent Events of the operator. Each stored event is a frame with `id:` and `data:` (the event JSON, its `type` inside), no `event:` line, so `EventSource.onmessage` gets every event; `frames=named` adds `event: <type>` for addEventListener clients; `names=alias` renders `timestamp`, `event_type`, `metadata` for `ts`, `type`, `payload`. Heartbeats are unnamed frames without `id:`. `connected` and `end` are named control frames. Headers: text/event-stream, Cache-Control: no-store, no-transform, X-Content-Type-Options: nosniff, X-Accel-Buffering: no; never compressed. Over the live-stream limits (per token, in all) a request gets 429 with Retry-After.',
    },
    defaultContentType: 'application/json',
    servers: {
      operator: {
        host: '127.0.0.1:8008',
        protocol: 'http',
        pathname: '/api/v1',
        description: 'the operator server (the origin that serves this document)',
        security: [
          { $ref: '#/components/securitySchemes/bearer' },
          { $ref: '#/components/securitySchemes/accessToken' },
        ],
      },
    },
    channels: {
      jobEvents: {
        address: '/jobs/{id}/events/stream',
        title: 'one job',
        description: `One job's events in seq order; \`id:\` is the event's seq. ${resume} After a terminal event the stream sends \`end\` and closes; a request whose resume point is at or past a finished job's last event gets 204 No Content (an EventSource then stops). A resume point past a live job's last event is a 400.`,
        parameters: { id: { description: 'job id' } },
        messages: eventRefs(['heartbeat', 'connected', 'end']),
      },
      allEvents: {
        address: '/events/stream',
        title: 'every job',
        description: `Every job's events in store order; \`id:\` is the global position (a decimal string: positions may exceed 2^53). ${resume} Filters: ?job=<id>, ?type=<a,b>. It never ends. A resume point past the log's head is a 400 (no position this server gave).`,
        messages: eventRefs(['heartbeat', 'connected']),
      },
    },
    operations: {
      receiveJobEvents: {
        action: 'receive',
        title: 'follow one job',
        channel: { $ref: '#/channels/jobEvents' },
        messages: channelMessageRefs('jobEvents', [
          ...EVENT_TYPES.map(messageName),
          'heartbeat',
          'connected',
          'end',
        ]),
        bindings: query(jobStreamQuery),
      },
      receiveAllEvents: {
        action: 'receive',
        title: 'follow every job',
        channel: { $ref: '#/channels/allEvents' },
        messages: channelMessageRefs('allEvents', [
          ...EVENT_TYPES.map(messageName),
          'heartbeat',
          'connected',
        ]),
        bindings: query(allStreamQuery),
      },
    },
    components: {
      messages,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <token>' },
        accessToken: {
          type: 'httpApiKey',
          name: 'access_token',
          in: 'query',
          description:
            'for EventSource, which cannot send headers: ?access_token=<token> (stream routes only)',
        },
      },
    },
  };
}
