import { AUTH } from '../lib/benchConfig.ts';
import { NodeChild, OPERATOR_BIN } from '../lib/nodeChild.ts';
import { sleep } from '../lib/stats.ts';

export interface Served {
  child: NodeChild;
  url: string;
}

/** `operator serve --config <file>` as a child process, resolved once it prints `listening on <url>`. */
export async function startServe(
  configPath: string,
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void,
): Promise<Served> {
  const child = new NodeChild(OPERATOR_BIN, { tsx: false, args: ['serve', '--config', configPath], onLine });
  const match = await child.waitForLine(/listening on (http:\/\/[^\s"]+)/, 60_000);
  return { child, url: match[1] as string };
}

/** Polls `/readyz` until the projections have applied everything in the store (lag 0). */
export async function waitCaughtUp(
  url: string,
  timeoutMs = 60_000,
): Promise<{ head: string | null; lag: number }> {
  const deadline = Date.now() + timeoutMs;
  let last: { store_head?: string | null; lag_events?: number } = {};
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/api/v1/readyz`);
      last = (await res.json()) as typeof last;
      if (res.status === 200 && last.lag_events === 0) return { head: last.store_head ?? null, lag: 0 };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`projections did not catch up within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** One API call with the bench admin token; JSON in and out. */
export async function api<T = Record<string, unknown>>(
  url: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<ApiAnswer<T>> {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { ...AUTH, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body: parsed as T };
}

/** 409 `job_already_started`: the pipeline runner started the queued job first, which is as good. */
export function startedAnyway(answer: ApiAnswer, path: string): boolean {
  const code = (answer.body as { error?: { code?: string } }).error?.code;
  return (
    path.endsWith('/start') &&
    !path.includes('/stages/') &&
    answer.status === 409 &&
    code === 'job_already_started'
  );
}

/** Creates a `cycle` job and runs it to its gate (5 events, a gate file) through the API. */
export async function jobAtGate(url: string, id: string): Promise<void> {
  for (const [path, body] of [
    ['/jobs', { id, pipeline: 'cycle' }],
    [`/jobs/${id}/start`, undefined],
    [`/jobs/${id}/stages/work/start`, {}],
    [`/jobs/${id}/stages/work/complete`, {}],
  ] as const) {
    const r = await api(url, 'POST', path, body);
    if (r.status >= 300 && !startedAnyway(r, path))
      throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}
