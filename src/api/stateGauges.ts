import { Gauge } from 'prom-client';
import type { JobStatus } from '../domain/events.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import type { PausedGate } from '../projections/jobGaugeFacts.ts';
import type { Metrics } from './metrics.ts';

/** Where the scrape-time gauges read the system's state. */
export interface StateGaugeSources {
  /** Jobs per status, from the read model. */
  countsByStatus(): Record<JobStatus, number>;
  /** Jobs paused at a gate, from the read model. */
  pausedGates(): PausedGate[];
  /** The webhook endpoints' health fields. */
  webhookEndpoints(): readonly WebhookEndpointHealth[];
  store: EventStore;
  /** The lowest checkpoint of the projections, null before any event was applied. */
  checkpoint(): Promise<string | null>;
  /** The clock that stamps events (`ts`), in ms: gate waits are measured on it. */
  now(): number;
}

/** What the endpoint gauge needs of a webhook endpoint (fields of the webhook store's endpoint). */
export interface WebhookEndpointHealth {
  enabled: boolean;
  /** Since when every attempt has failed; null after a success. */
  failing_since: string | null;
}

/** Gauges collected at scrape within this long reuse one read of the paused gates. */
const MEMO_MS = 1000;

/**
 * Gauges of the system's state, computed when Prometheus scrapes (nothing is kept up to date between
 * scrapes): jobs by status, gate waits, and the projections' lag in time. The gate and lag gauges are what
 * the alert rules in `deploy/prometheus/alerts.yml` watch.
 */
export function registerStateGauges(metrics: Metrics, sources: StateGaugeSources): void {
  const registers = [metrics.registry];
  new Gauge({
    name: 'operator_jobs',
    help: 'jobs by status, from the read model',
    labelNames: ['status'],
    registers,
    collect() {
      for (const [status, count] of Object.entries(sources.countsByStatus())) this.set({ status }, count);
    },
  });

  let memo: { at: number; gates: Map<string, GateSummary> } | null = null;
  const gates = (): Map<string, GateSummary> => {
    // Timed on the wall clock: an event clock may stand still (tests) or jump.
    const at = Date.now();
    if (!memo || at - memo.at > MEMO_MS || at < memo.at)
      memo = { at, gates: summarise(sources, sources.now()) };
    return memo.gates;
  };
  const gateGauge = (name: string, help: string, value: (g: GateSummary) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['pipeline', 'gate'],
      registers,
      collect() {
        // Reset first: a gate nobody waits at any more leaves the output instead of keeping its last value.
        this.reset();
        for (const g of gates().values()) this.set({ pipeline: g.pipeline, gate: g.gate }, value(g));
      },
    });
  gateGauge('operator_gate_waiting_jobs', 'jobs paused at a gate now', (g) => g.waiting);
  gateGauge(
    'operator_gate_oldest_wait_seconds',
    'how long the job that has waited longest at a gate has been waiting',
    (g) => g.oldestSeconds,
  );
  gateGauge(
    'operator_gate_overdue_jobs',
    'jobs still waiting at a gate after its timeout (the deadline in their gate_pause)',
    (g) => g.overdue,
  );

  new Gauge({
    name: 'operator_webhook_endpoints',
    help: 'webhook endpoints by state: healthy, failing (every attempt failing since a time), disabled',
    labelNames: ['state'],
    registers,
    collect() {
      const counts = { healthy: 0, failing: 0, disabled: 0 };
      for (const endpoint of sources.webhookEndpoints()) counts[endpointState(endpoint)]++;
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });

  new Gauge({
    name: 'operator_projection_lag_seconds',
    help: 'age of the oldest job event the projections have not applied yet; 0 when caught up',
    labelNames: ['projection'],
    registers,
    async collect() {
      this.set({ projection: 'all' }, await lagSeconds(sources));
    },
  });
}

interface GateSummary {
  pipeline: string;
  gate: string;
  waiting: number;
  oldestSeconds: number;
  overdue: number;
}

function summarise(sources: StateGaugeSources, now: number): Map<string, GateSummary> {
  const byGate = new Map<string, GateSummary>();
  for (const paused of sources.pausedGates()) {
    const key = JSON.stringify([paused.pipeline, paused.gate]);
    const summary = byGate.get(key) ?? {
      pipeline: paused.pipeline,
      gate: paused.gate,
      waiting: 0,
      oldestSeconds: 0,
      overdue: 0,
    };
    summary.waiting++;
    const waited = (now - Date.parse(paused.paused_at)) / 1000;
    if (Number.isFinite(waited)) summary.oldestSeconds = Math.max(summary.oldestSeconds, waited);
    if (paused.deadline !== null && Date.parse(paused.deadline) < now) summary.overdue++;
    byGate.set(key, summary);
  }
  return byGate;
}

/** The first job event after the projections' checkpoint, and how long ago the store recorded it. */
async function lagSeconds(sources: StateGaugeSources): Promise<number> {
  const checkpoint = await sources.checkpoint();
  // `fromPosition` is inclusive: the checkpoint's own event is skipped.
  for await (const event of sources.store.readAll({
    fromPosition: checkpoint ?? 'start',
    maxCount: 2,
    filter: { streamNamePrefix: [JOB_STREAM_PREFIX] },
  })) {
    if (event.position === checkpoint) continue;
    // The store stamps `created` with the wall clock, whatever clock stamps the events' `ts`.
    const age = (Date.now() - Date.parse(event.created)) / 1000;
    return Number.isFinite(age) ? Math.max(0, age) : 0;
  }
  return 0;
}

function endpointState(endpoint: WebhookEndpointHealth): 'healthy' | 'failing' | 'disabled' {
  if (!endpoint.enabled) return 'disabled';
  return endpoint.failing_since === null ? 'healthy' : 'failing';
}
