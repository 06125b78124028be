import { z } from 'zod';
import { JOB_ID_PATTERN, JOB_ID_RULE } from '../../domain/events.ts';
import {
  durationSchema,
  gateDefinitionSchema,
  gateName,
  stageDefinitionSchema,
} from '../../domain/pipeline.ts';
import { LOG_FORMATS } from '../logging/logFormat.ts';
import { MAX_TIMER_MS } from '../longTimeout.ts';
import { DEFAULT_ADMIN_TOKEN, exposedTokenIssues, tokenSchema } from './authConfig.ts';
import { refusedWebhookTargets, webhooksConfigSchema } from './webhooksConfig.ts';

// Strict copies of the domain's stage and gate shapes: in a config file a misspelt key (`retires`,
// `on_timout`) must be reported, not silently dropped. The inferred types are the domain's.
const configGateSchema = z.strictObject(gateDefinitionSchema.shape);
const configStageSchema = z.strictObject({
  ...stageDefinitionSchema.shape,
  gate: configGateSchema.optional(),
});

const pipelineEntrySchema = z.strictObject({
  description: z.string().optional(),
  stages: z.array(configStageSchema).min(1),
});

export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        port: z.number().int().min(0).max(65535).default(8008),
        host: z.string().min(1).default('127.0.0.1'),
        log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        /** `auto`: readable lines when stdout is a terminal, JSON lines otherwise. */
        log_format: z.enum(LOG_FORMATS).default('auto'),
        cors_origins: z.array(z.string()).default([]),
        body_limit_bytes: z.number().int().positive().default(1_048_576),
        /** Nesting of arrays and objects in a request body (the body is depth 1). */
        max_json_depth: z.number().int().min(2).max(1000).default(32),
        /** Job `params` and each event payload a client sends (`payload`, `metadata`), as JSON bytes. */
        max_payload_bytes: z.number().int().positive().default(65_536),
      })
      .prefault({}),
    auth: z
      .strictObject({
        tokens: z
          .array(tokenSchema)
          .min(1)
          .default([{ name: 'admin', token: DEFAULT_ADMIN_TOKEN, role: 'admin' }]),
      })
      .prefault({}),
    store: z
      .strictObject({
        kind: z.enum(['lmdb', 'eventstoredb']).default('lmdb'),
        connection_string: z.string().optional(),
        /**
         * EventStoreDB only: how long the single-runner lease (decision 0004) outlives its last renewal.
         * Takeover after a crash takes up to this plus a third of it.
         */
        lease_ttl: durationSchema
          .pipe(
            z
              .number()
              .min(1000, 'at least 1s')
              .max(MAX_TIMER_MS, 'at most 24d (2147483647 ms): it is renewed on a timer'),
          )
          .default(15_000),
      })
      .prefault({}),
    storage: z
      .strictObject({
        data_dir: z.string().default('data'),
        runs_dir: z.string().default('runs'),
        events_retention_days: z.number().int().positive().default(30),
        retention_action: z.enum(['delete', 'archive']).default('delete'),
        max_events_per_job: z.number().int().min(4).default(1000),
        /** Under this many free bytes on the data dir's (or runs dir's) filesystem, /readyz answers 503 `disk: low`. */
        min_free_bytes: z
          .number()
          .int()
          .nonnegative()
          .default(256 * 1024 * 1024),
      })
      .prefault({}),
    streaming: z
      .strictObject({
        /** A timer: at most setTimeout's limit. */
        heartbeat_seconds: z
          .number()
          .positive()
          .max(Math.floor(MAX_TIMER_MS / 1000))
          .default(5),
        retry_ms: z.number().int().nonnegative().default(2000),
        max_buffered_bytes: z.number().int().positive().default(1_048_576),
        stuck_timeout_seconds: z.number().positive().default(30),
        /** Live streams one token may hold at once (event streams and log follows together). */
        max_streams_per_token: z.number().int().positive().default(100),
        /** Live streams the process serves at once, every token together. */
        max_streams: z.number().int().positive().default(10_000),
      })
      .prefault({}),
    pipeline: z
      .strictObject({
        lanes: z.number().int().min(1).default(1),
        gate_holds_lane: z.boolean().default(true),
        default: z.string().optional(),
        stage_kill_grace: durationSchema.default(5000),
      })
      .prefault({}),
    pipelines: z.record(z.string().regex(JOB_ID_PATTERN, JOB_ID_RULE), pipelineEntrySchema).default({}),
    runner: z
      .strictObject({
        /**
         * Names of the server's environment variables stage commands also get. Stages see only PATH, HOME,
         * LANG, the job variables, their stage's `env` and these: the server's secrets stay the server's.
         */
        env_passthrough: z
          .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'))
          .default([]),
        /**
         * Bytes of log one stage attempt may write (the log's line format). Past it one marker line is
         * written and the rest of the attempt's output is read and dropped: the stage runs on.
         */
        max_log_bytes: z
          .number()
          .int()
          .min(1024)
          .default(64 * 1024 * 1024),
      })
      .prefault({}),
    webhooks: webhooksConfigSchema,
  })
  .superRefine((c, ctx) => {
    for (const [i, message] of exposedTokenIssues(c.server.host, c.auth.tokens))
      ctx.addIssue({ code: 'custom', path: ['auth', 'tokens', i, 'token'], message });
    if (c.store.kind === 'eventstoredb' && !c.store.connection_string)
      ctx.addIssue({
        code: 'custom',
        path: ['store', 'connection_string'],
        message: 'required when store.kind is eventstoredb',
      });
    if (c.pipeline.default && !Object.hasOwn(c.pipelines, c.pipeline.default)) {
      const defined = Object.keys(c.pipelines);
      ctx.addIssue({
        code: 'custom',
        path: ['pipeline', 'default'],
        message: `names no pipeline in pipelines: "${c.pipeline.default}" (defined: ${defined.join(', ') || 'none'})`,
      });
    }
    for (const [i, duplicate] of duplicatesAt(c.auth.tokens.map((t) => t.token)))
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'tokens', i, 'token'],
        message: `same token as auth.tokens[${duplicate}]`,
      });
    for (const [i, duplicate] of duplicatesAt(c.auth.tokens.map((t) => t.name)))
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'tokens', i, 'name'],
        message: `same name as auth.tokens[${duplicate}]: audit could not tell them apart`,
      });
    for (const [i, duplicate] of duplicatesAt(c.webhooks.endpoints.map((e) => e.id)))
      ctx.addIssue({
        code: 'custom',
        path: ['webhooks', 'endpoints', i, 'id'],
        message: `same id as webhooks.endpoints[${duplicate}]`,
      });
    for (const [i, message] of refusedWebhookTargets(c))
      ctx.addIssue({ code: 'custom', path: ['webhooks', 'endpoints', i, 'url'], message });
    for (const [pipeline, entry] of Object.entries(c.pipelines)) {
      for (const [i, duplicate] of duplicatesAt(entry.stages.map((s) => s.name)))
        ctx.addIssue({
          code: 'custom',
          path: ['pipelines', pipeline, 'stages', i, 'name'],
          message: `duplicate stage name "${entry.stages[i]?.name}" (also stages[${duplicate}])`,
        });
      const gates = entry.stages.map((s) => gateName(s));
      for (const [i, duplicate] of duplicatesAt(gates))
        ctx.addIssue({
          code: 'custom',
          path: ['pipelines', pipeline, 'stages', i, 'gate', 'name'],
          message: `duplicate gate name "${gates[i]}" (also stages[${duplicate}])`,
        });
    }
  });

/** Index of every repeated value (nulls ignored) paired with the index of its first occurrence. */
function duplicatesAt(values: readonly (string | null)[]): [number, number][] {
  const first = new Map<string, number>();
  const found: [number, number][] = [];
  for (const [i, value] of values.entries()) {
    if (value === null) continue;
    const seen = first.get(value);
    if (seen === undefined) first.set(value, i);
    else found.push([i, seen]);
  }
  return found;
}

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
