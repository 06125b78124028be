import type { Context, Next } from 'koa';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { JobEvent } from '../domain/events.ts';
import { type JobState, ownGate } from '../domain/jobState.ts';
import { payloadOf } from '../domain/payloadOf.ts';

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
    help: 'job events between the store head and the projections checkpoint (an exact count)',
    labelNames: ['projection'],
    registers: [this.registry],
  });
  readonly appendDuration = new Histogram({
    name: 'operator_event_append_duration_seconds',
    help: "time the store took to append one command's events (acknowledged, durable)",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly sseFramesSent = new Counter({
    name: 'operator_sse_frames_sent_total',
    help: 'frames written to SSE clients: events of job and all-jobs streams, log batches of log follows (heartbeats excluded)',
    registers: [this.registry],
  });
  readonly gateWait = new Histogram({
    name: 'operator_gate_wait_seconds',
    help: 'how long a gate waited for its decision, by gate and decision (approved, rejected, auto_approved)',
    labelNames: ['pipeline', 'gate', 'decision'],
    buckets: [1, 10, 60, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400, 259_200],
    registers: [this.registry],
  });
  readonly leaseChanges = new Counter({
    name: 'operator_lease_changes_total',
    help: 'single-runner lease changes seen by this process (taken, lost, released); EventStoreDB only',
    labelNames: ['change'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'operator_' });
    // Every lease series exists from the start, so increase() sees the first change too.
    for (const change of ['taken', 'lost', 'released']) this.leaseChanges.inc({ change }, 0);
  }

  /** Counts an appended event; a gate decision also records how long its gate waited. */
  observeAppended(event: JobEvent, state: JobState): void {
    this.eventsAppended.inc({ type: event.type });
    const decision = GATE_DECISIONS[event.type as keyof typeof GATE_DECISIONS];
    const name = payloadOf(event, 'gate_approved').gate; // every decision carries `gate`
    const gate = decision && name !== undefined ? ownGate(state.gates, name) : undefined;
    if (!gate?.paused_at) return;
    const waited = (Date.parse(event.ts) - Date.parse(gate.paused_at)) / 1000;
    if (Number.isFinite(waited) && waited >= 0)
      this.gateWait.observe({ pipeline: state.pipeline?.name ?? '', gate: gate.name, decision }, waited);
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

const GATE_DECISIONS = {
  gate_approved: 'approved',
  gate_rejected: 'rejected',
  gate_auto_approved: 'auto_approved',
} as const;
