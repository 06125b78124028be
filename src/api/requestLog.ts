import type { Logger } from 'pino';
import { redactQuery } from '../infra/logging/redactQuery.ts';

/** One answered request, as its log line tells it. */
export interface AnsweredRequest {
  method: string;
  /** The path as sent (not decoded). */
  path: string;
  /** The parsed (decoded) query. */
  query: Record<string, unknown>;
  status: number;
  /** `Date.now()` when the request came in. */
  started: number;
  /** The `X-Request-Id` the answer carries: the line a client's report names. */
  requestId?: string;
}

/**
 * The `http` log line of a request: the path and the parsed query with credentials redacted, never the raw
 * URL (redaction on the raw text misses encodings such as `access%5Ftoken` that the query parser decodes).
 */
export function logRequest(logger: Logger, request: AnsweredRequest): void {
  logger.info(
    {
      method: request.method,
      path: request.path,
      query: redactQuery(request.query),
      status: request.status,
      ms: Date.now() - request.started,
      ...(request.requestId ? { requestId: request.requestId } : {}),
    },
    'http',
  );
}
