import type { DestinationStream, Level, LevelWithSilent, Logger } from 'pino';
import { pino } from 'pino';
import type { EventType, JobEvent } from '../../domain/events.ts';
import { secretScrubber } from './redactQuery.ts';

export type { Logger } from 'pino';

export interface CreateLoggerOptions {
  level: LevelWithSilent;
  name?: string;
  /** Where JSON lines go; stdout when omitted. Tests pass a stream to capture records. */
  destination?: DestinationStream;
  /** Values (the configured tokens) scrubbed from every string of every record, in any field. */
  secrets?: readonly string[];
}

const REDACTED = '[REDACTED]';

// Credentials never reach a log line: the Authorization header wherever a request is logged, and the
// `access_token` query value SSE clients use because EventSource cannot send headers.
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["Authorization"]',
  'request.headers.authorization',
  'headers.authorization',
  'headers["Authorization"]',
  'req.query.access_token',
  'query.access_token',
  'access_token',
];

/** The process logger (pino, JSON lines, ISO timestamps) with credentials redacted from fields and text. */
export function createLogger(options: CreateLoggerOptions): Logger {
  const scrub = secretScrubber(options.secrets ?? []);
  const clean = (text: string): string => scrub(redactSecrets(text));
  const pinoOptions: pino.LoggerOptions = {
    level: options.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    hooks: {
      logMethod(args, method) {
        const safe = args.map((a: unknown) => (typeof a === 'string' ? clean(a) : a));
        method.apply(this, safe as Parameters<typeof method>);
      },
    },
    formatters: { log: (fields) => redactStrings(fields, 0, clean) as Record<string, unknown> },
    serializers: { req: serializeRequest, err: pino.stdSerializers.err },
  };
  if (options.name) pinoOptions.name = options.name;
  return options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions);
}

/** Replaces the value of every `access_token` query parameter in `url` with `[REDACTED]`. */
export function redactUrl(url: string): string {
  return url.replace(/(^|[?&;\s"'])(access_token=)[^&#\s"']*/gi, `$1$2${REDACTED}`);
}

function redactSecrets(text: string): string {
  if (!/access_token|bearer/i.test(text)) return text;
  return redactUrl(text).replace(/\b(Bearer\s+)[\w.~+/=-]+/gi, `$1${REDACTED}`);
}

/** A raw Node request becomes pino's usual summary; either way its URL is redacted like any string. */
function serializeRequest(req: unknown): unknown {
  return redactStrings(
    isPlainObject(req) ? req : { ...pino.stdSerializers.req(req as never) },
    0,
    redactSecrets,
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Copy of `value` with secrets redacted from every string in plain objects and arrays (bounded depth). */
function redactStrings(value: unknown, depth: number, clean: (text: string) => string): unknown {
  if (typeof value === 'string') return clean(value);
  if (depth > 5) return value;
  if (Array.isArray(value)) return value.map((v) => redactStrings(v, depth + 1, clean));
  if (value instanceof Error) return redactStrings({ ...pino.stdSerializers.err(value) }, depth + 1, clean);
  if (!isPlainObject(value)) return value;
  // From entries: a key named `__proto__` stays a key, as in `redactQuery`.
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactStrings(v, depth + 1, clean)]));
}

const LEVEL_BY_TYPE = {
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
} as const satisfies Record<EventType, Level>;

/** Failures are errors, rejections and cancellations warnings, everything else info. */
export function eventLogLevel(type: EventType): Level {
  return LEVEL_BY_TYPE[type];
}

/** Mirrors one stored event to the log as a single `[events]` record. */
export function logStoredEvent(logger: Logger, event: JobEvent): void {
  const stage = event.stage ? ` ${event.stage}` : '';
  const message = event.message ? `: ${event.message}` : '';
  logger[eventLogLevel(event.type)](
    {
      job_id: event.job_id,
      seq: event.seq,
      position: event.position,
      type: event.type,
      stage: event.stage,
      status: event.status,
      actor: event.actor,
    },
    `[events] ${event.job_id} #${event.seq} ${event.type}${stage}${message}`,
  );
}
