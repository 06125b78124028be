import type { Config } from '../../infra/config/configSchema.ts';
import type { EventStore } from '../../infra/eventstore/eventStore.ts';
import { freeBytes } from '../../infra/files/freeSpace.ts';
import { countJobEvents, JobEventLag } from '../../projections/index.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { HttpError } from '../errors.ts';
import type { AnyRoute } from '../route.ts';
import { route } from '../route.ts';
import { healthSchema } from '../schemas.ts';

/** How far behind the store head the projections may be for the server to count as ready. */
const READY_LAG_EVENTS = 1000;

/**
 * The job events the projections have not applied yet, for readiness: counted up to
 * `READY_LAG_EVENTS + 1` only, which is all `/readyz` needs to know.
 */
async function readinessLag(deps: ApiDeps, head: string | null, checkpoint: string | null): Promise<number> {
  if (head === null) return 0;
  return countJobEvents(deps.store, checkpoint, head, READY_LAG_EVENTS + 1);
}

/** One exact lag counter per store (one per server): it keeps its last count between calls. */
const lagCounters = new WeakMap<EventStore, JobEventLag>();

/**
 * The job events the projections have not applied yet, exactly, however many (the metric and
 * `/status/ops`): see {@link JobEventLag} for why it stays cheap.
 */
export function lagEvents(deps: ApiDeps, head: string | null, checkpoint: string | null): Promise<number> {
  let counter = lagCounters.get(deps.store);
  if (!counter) {
    counter = new JobEventLag(deps.store, READY_LAG_EVENTS);
    lagCounters.set(deps.store, counter);
  }
  return counter.count(checkpoint, head);
}

interface DiskCheck {
  /** `unknown`: neither dir exists yet, or statfs failed. */
  disk: 'ok' | 'low' | 'unknown';
  /** The least free space of the data dir's and the runs dir's filesystems. */
  free_bytes: number | null;
  min_free_bytes: number;
}

/**
 * Free space where the server writes (the store and read model under the data dir, the projections and
 * stage logs under the runs dir) against `storage.min_free_bytes`: a server about to fill its disk should
 * leave a balancer's rotation before its writes start failing (507).
 */
async function diskCheck(config: Config): Promise<DiskCheck> {
  const { data_dir, runs_dir, min_free_bytes } = config.storage;
  const free = (
    await Promise.all([data_dir, runs_dir].map((dir) => freeBytes(dir).catch(() => null)))
  ).filter((bytes): bytes is number => bytes !== null);
  if (free.length === 0) return { disk: 'unknown', free_bytes: null, min_free_bytes };
  const least = Math.min(...free);
  return { disk: least < min_free_bytes ? 'low' : 'ok', free_bytes: least, min_free_bytes };
}

export function systemRoutes(deps: ApiDeps, openapi: () => unknown): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/healthz',
      tag: 'system',
      summary: 'liveness',
      role: 'public',
      responses: { 200: { description: 'alive', schema: healthSchema } },
      handler: (ctx) => {
        ctx.body = { status: 'ok' };
      },
    }),
    route({
      method: 'get',
      path: '/readyz',
      tag: 'system',
      summary:
        'readiness: store open, projections caught up within a bound, free disk space above storage.min_free_bytes (`disk`); with EventStoreDB `role`: leader or standby',
      role: 'public',
      responses: { 200: { description: 'ready', schema: healthSchema }, 503: { description: 'not ready' } },
      handler: async (ctx) => {
        if (deps.isShuttingDown()) throw new HttpError('not_ready', 'shutting down', 'unavailable');
        const disk = await diskCheck(deps.config);
        if (disk.disk === 'low')
          throw new HttpError(
            'not_ready',
            `disk space low: ${disk.free_bytes} bytes free, under storage.min_free_bytes (${disk.min_free_bytes})`,
            'unavailable',
            disk,
          );
        const head = await deps.store.headPosition();
        const checkpoint = await deps.projections.checkpoint();
        const lag = await readinessLag(deps, head, checkpoint);
        if (lag > READY_LAG_EVENTS) {
          throw new HttpError(
            'not_ready',
            `projections are more than ${READY_LAG_EVENTS} events behind the store`,
            'unavailable',
            {
              head,
              checkpoint,
            },
          );
        }
        ctx.body = {
          status: 'ready',
          store_head: head,
          projection_checkpoint: checkpoint,
          lag_events: lag,
          disk: disk.disk,
          disk_free_bytes: disk.free_bytes,
          ...(deps.leaseRole ? { role: deps.leaseRole() } : {}),
        };
      },
    }),
    route({
      method: 'get',
      path: '/metrics',
      tag: 'system',
      summary: 'Prometheus metrics',
      role: 'public',
      responses: { 200: { description: 'text exposition format', contentType: 'text/plain' } },
      handler: async (ctx) => {
        const head = await deps.store.headPosition();
        const checkpoint = await deps.projections.checkpoint();
        if (head !== null)
          deps.metrics.projectionLag.set({ projection: 'all' }, await lagEvents(deps, head, checkpoint));
        ctx.type = deps.metrics.registry.contentType;
        ctx.body = await deps.metrics.registry.metrics();
      },
    }),
    route({
      method: 'get',
      path: '/openapi.json',
      tag: 'system',
      summary: 'this document',
      role: 'public',
      responses: { 200: { description: 'OpenAPI 3.1' } },
      handler: (ctx) => {
        ctx.body = openapi();
      },
    }),
  ];
}
