import type { JobStatus } from '../domain/events.ts';
import { JOB_STATUSES } from '../domain/events.ts';
import { ownGate } from '../domain/jobState.ts';
import type { ReadModelStore } from './readModelStore.ts';

/** A job paused at a gate now, as the gate gauges need it. */
export interface PausedGate {
  pipeline: string;
  gate: string;
  /** ISO time of its `gate_pause`. */
  paused_at: string;
  /** ISO deadline from the `gate_pause` payload; null when the gate has no timeout. */
  deadline: string | null;
}

const MAX_KEY = '\uffff';
/** Paused jobs a scrape looks at, whatever their number: a scrape stays cheap. */
const PAUSED_SCAN_LIMIT = 10_000;

/**
 * What the scrape-time job gauges read from the read model: counts per status and the jobs paused at a
 * gate. Counts are key-only range counts on the `jobs_by_status` index (no row is decoded); the gate scan
 * reads the folded state of paused jobs only, bounded.
 */
export class JobGaugeFacts {
  constructor(private readonly readModelStore: ReadModelStore) {}

  countsByStatus(): Record<JobStatus, number> {
    const t = this.readModelStore.tables();
    const counts = {} as Record<JobStatus, number>;
    for (const status of JOB_STATUSES)
      counts[status] = t.jobsByStatus.getKeysCount({ start: [status], end: [status, MAX_KEY] });
    return counts;
  }

  pausedGates(): PausedGate[] {
    const t = this.readModelStore.tables();
    const paused: PausedGate[] = [];
    for (const key of t.jobsByStatus.getKeys({
      start: ['paused'],
      end: ['paused', MAX_KEY],
      limit: PAUSED_SCAN_LIMIT,
    })) {
      const state = t.states.get(key[2]);
      const gate = state ? ownGate(state.gates, state.paused_gate) : undefined;
      if (!state || !gate?.paused_at) continue;
      paused.push({
        pipeline: state.pipeline?.name ?? '',
        gate: gate.name,
        paused_at: gate.paused_at,
        deadline: gate.deadline,
      });
    }
    return paused;
  }
}
