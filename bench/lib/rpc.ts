import { createInterface } from 'node:readline';

export type RpcHandler = (params: Record<string, unknown>) => unknown;

/** Sends an unsolicited message to the parent {@link NodeChild}. */
export function emit(event: string, data: unknown): void {
  process.stdout.write(`@@${JSON.stringify({ event, data })}\n`);
}

/**
 * Child side of {@link NodeChild.request}: one JSON request per stdin line, answered on stdout with `@@`.
 * When the parent closes stdin (or dies), `onEnd` runs and the process exits.
 */
export function serveRpc(
  handlers: Record<string, RpcHandler>,
  onEnd: () => Promise<void> | void = () => {},
): void {
  const input = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  input.on('line', (line) => {
    let request: { id: number; op: string; params?: Record<string, unknown> };
    try {
      request = JSON.parse(line);
    } catch {
      return;
    }
    const reply = (body: Record<string, unknown>) =>
      process.stdout.write(`@@${JSON.stringify({ id: request.id, ...body })}\n`);
    const handler = handlers[request.op];
    if (!handler) {
      reply({ ok: false, error: `unknown op ${request.op}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(request.params ?? {}))
      .then(
        (result) => reply({ ok: true, result: result ?? null }),
        (error: unknown) =>
          reply({
            ok: false,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          }),
      );
  });
  input.on('close', () => {
    Promise.resolve()
      .then(onEnd)
      .finally(() => process.exit(0));
  });
}

/** RSS of this process in bytes, after a full GC when node runs with `--expose-gc` (unless `collect` is false). */
export function measuredRss(collect = true): { rss: number; heapUsed: number; gc: boolean } {
  const gc = collect ? (globalThis as { gc?: () => void }).gc : undefined;
  if (gc) {
    gc();
    gc();
  }
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed, gc: gc !== undefined };
}
