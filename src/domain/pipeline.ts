import { z } from 'zod';
import { newNameSchema } from './events.ts';

export const GATE_TIMEOUT_POLICIES = ['approve', 'reject', 'wait'] as const;
export const REJECT_POLICIES = ['fail', 'rerun'] as const;

/** A duration in milliseconds, as given in config (`10m`, `30s`, `1h`, `500ms`) or a number of ms. */
export const durationSchema = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d+(ms|s|m|h|d)$/, 'duration like 500ms, 30s, 10m, 1h or 1d')
    .transform(parseDuration),
]);

export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    match[2] as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  return Number(match[1]) * unit;
}

/** The longest wait before a retry, however many attempts failed. */
export const MAX_RETRY_DELAY_MS = 3_600_000;

export const gateDefinitionSchema = z.object({
  name: newNameSchema.optional(),
  /** Absent: no deadline. 0 would time the gate out as it pauses (with approve or reject, no person decides). */
  timeout: durationSchema
    .pipe(z.number().min(1, 'must be more than 0 (leave timeout out to wait for a person with no deadline)'))
    .optional(),
  on_timeout: z.enum(GATE_TIMEOUT_POLICIES).default('wait'),
  on_reject: z.enum(REJECT_POLICIES).default('fail'),
});

export const stageDefinitionSchema = z.object({
  name: newNameSchema,
  run: z.string().min(1).optional(),
  /** Absent: no limit. 0 would kill every attempt as it starts, so it is refused. */
  timeout: durationSchema
    .pipe(z.number().min(1, 'must be more than 0 (leave timeout out for no limit)'))
    .optional(),
  retries: z.number().int().min(0).max(100).default(0),
  /**
   * The wait before the first retry of a failed attempt; each next retry waits twice as long as the one
   * before, at most `MAX_RETRY_DELAY_MS`. Absent or 0: a failed attempt is retried at once.
   */
  retry_delay: durationSchema.pipe(z.number().max(MAX_RETRY_DELAY_MS, 'at most 1h')).optional(),
  env: z.record(z.string(), z.string()).default({}),
  gate: gateDefinitionSchema.optional(),
});

export const pipelineDefinitionSchema = z
  .object({
    name: newNameSchema,
    stages: z.array(stageDefinitionSchema).min(1),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    for (const [i, s] of p.stages.entries()) {
      if (seen.has(s.name))
        ctx.addIssue({ code: 'custom', path: ['stages', i, 'name'], message: 'duplicate stage' });
      seen.add(s.name);
    }
  });

export type GateDefinition = z.infer<typeof gateDefinitionSchema>;
export type StageDefinition = z.infer<typeof stageDefinitionSchema>;
export type PipelineDefinition = z.infer<typeof pipelineDefinitionSchema>;

/** A gate is named after its stage unless configured otherwise. */
export function gateName(stage: StageDefinition): string | null {
  if (!stage.gate) return null;
  return stage.gate.name ?? stage.name;
}
