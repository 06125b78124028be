import type { Context, Next } from 'koa';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The operator's Prometheus metrics, in a registry of their own (several servers may share a process in tests). */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'operator_http_request_duration_seconds',
    help: 'HTTP request latency (SSE streams excluded)',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
    registers: [this.registry],
  });
  readonly sseConnections = new Gauge({
    name: 'operator_sse_connections',
    help: 'open SSE connections',
    registers: [this.registry],
  });
  readonly sseCutOff = new Counter({
    name: 'operator_sse_clients_cut_off_total',
    help: 'SSE clients disconnected for not reading',
    registers: [this.registry],
  });
  readonly eventsAppended = new Counter({
    name: 'operator_events_appended_total',
    help: 'events appended by this process',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly projectionLag = new Gauge({
    name: 'operator_projection_lag_events',
    help: 'events between the store head and a projection checkpoint',
    labelNames: ['projection'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'operator_' });
  }

  middleware() {
    return async (ctx: Context, next: Next): Promise<void> => {
      const started = process.hrtime.bigint();
      try {
        await next();
      } finally {
        if (ctx.respond !== false) {
          const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          this.httpDuration.observe(
            { method: ctx.method, route: String(route), status: String(ctx.status) },
            seconds,
          );
        }
      }
    };
  }
}
