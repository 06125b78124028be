import { z } from 'zod';
import { durationSchema, stageDefinitionSchema } from '../../domain/pipeline.ts';

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

const tokenSchema = z.object({
  name: z.string().min(1),
  token: z.string().min(8, 'a token needs at least 8 characters'),
  role: z.enum(ROLES),
});

const pipelineEntrySchema = z.object({
  description: z.string().optional(),
  stages: z.array(stageDefinitionSchema).min(1),
});

export const configSchema = z
  .object({
    server: z
      .object({
        port: z.number().int().min(0).max(65535).default(8008),
        host: z.string().default('0.0.0.0'),
        log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        cors_origins: z.array(z.string()).default([]),
        body_limit_bytes: z.number().int().positive().default(1_048_576),
      })
      .prefault({}),
    auth: z
      .object({
        tokens: z
          .array(tokenSchema)
          .min(1)
          .default([{ name: 'admin', token: 'default-admin-token-change-me', role: 'admin' }]),
      })
      .prefault({}),
    store: z
      .object({
        kind: z.enum(['lmdb', 'eventstoredb']).default('lmdb'),
        connection_string: z.string().optional(),
      })
      .prefault({}),
    storage: z
      .object({
        data_dir: z.string().default('data'),
        runs_dir: z.string().default('runs'),
        events_retention_days: z.number().int().positive().default(30),
        retention_action: z.enum(['delete', 'archive']).default('delete'),
        max_events_per_job: z.number().int().min(4).default(1000),
      })
      .prefault({}),
    streaming: z
      .object({
        heartbeat_seconds: z.number().positive().default(5),
        retry_ms: z.number().int().nonnegative().default(2000),
        max_buffered_bytes: z.number().int().positive().default(1_048_576),
        stuck_timeout_seconds: z.number().positive().default(30),
      })
      .prefault({}),
    pipeline: z
      .object({
        lanes: z.number().int().min(1).default(1),
        gate_holds_lane: z.boolean().default(true),
        default: z.string().optional(),
        stage_kill_grace: durationSchema.default(5000),
      })
      .prefault({}),
    pipelines: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), pipelineEntrySchema).default({}),
  })
  .superRefine((c, ctx) => {
    if (c.store.kind === 'eventstoredb' && !c.store.connection_string)
      ctx.addIssue({
        code: 'custom',
        path: ['store', 'connection_string'],
        message: 'required when store.kind is eventstoredb',
      });
    if (c.pipeline.default && !c.pipelines[c.pipeline.default])
      ctx.addIssue({
        code: 'custom',
        path: ['pipeline', 'default'],
        message: 'names no pipeline in pipelines',
      });
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
