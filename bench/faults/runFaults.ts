import { killAllChildren } from '../lib/nodeChild.ts';
import { concurrencyScenario } from './concurrency.ts';
import { diskFaultsScenario } from './diskFaults.ts';
import type { FaultReport, FaultScenario } from './faultReport.ts';
import { killLoopScenario } from './killLoop.ts';
import { resumeFuzzScenario } from './resumeFuzz.ts';
import { stuckClientsScenario } from './stuckClients.ts';

export const FAULT_SCENARIOS: Record<string, FaultScenario> = {
  kill: killLoopScenario,
  resume: resumeFuzzScenario,
  stuck: stuckClientsScenario,
  disk: diskFaultsScenario,
  concurrency: concurrencyScenario,
};

export interface FaultsOutcome {
  reports: FaultReport[];
  failed: number;
  passed: number;
  seconds: number;
  table: string;
}

/** Runs the scenarios one after the other; a scenario that throws counts as one failed check. */
export async function runFaults(options: {
  short: boolean;
  only?: readonly string[];
  log: (line: string) => void;
}): Promise<FaultsOutcome> {
  const names = options.only ?? Object.keys(FAULT_SCENARIOS);
  for (const name of names)
    if (!FAULT_SCENARIOS[name])
      throw new Error(`unknown scenario ${name}; known: ${Object.keys(FAULT_SCENARIOS).join(', ')}`);
  const t0 = performance.now();
  const reports: FaultReport[] = [];
  for (const name of names) {
    options.log(`\n== ${name}`);
    const s0 = performance.now();
    try {
      reports.push(
        await (FAULT_SCENARIOS[name] as FaultScenario)({
          short: options.short,
          log: (l) => options.log(`  ${l}`),
        }),
      );
    } catch (error) {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      options.log(`  FAIL: scenario threw — ${detail}`);
      reports.push({
        scenario: name,
        did: [],
        checks: [{ name: 'scenario runs to completion', ok: false, detail: detail.split('\n')[0] ?? '' }],
        seconds: (performance.now() - s0) / 1000,
        details: { error: detail },
      });
    } finally {
      const left = killAllChildren();
      if (left > 0)
        options.log(`  (killed ${left} child process${left > 1 ? 'es' : ''} the scenario left running)`);
    }
  }
  const checks = reports.flatMap((r) => r.checks);
  const failed = checks.filter((c) => !c.ok).length;
  const lines = ['| scenario | checks | result | seconds |', '|---|---|---|--:|'];
  for (const r of reports) {
    const bad = r.checks.filter((c) => !c.ok);
    lines.push(
      `| ${r.scenario} | ${r.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.name}`).join('<br>')} | ${bad.length === 0 ? 'pass' : `**${bad.length} failed**`} | ${r.seconds.toFixed(0)} |`,
    );
  }
  lines.push('', `${checks.length - failed} passed, ${failed} failed`);
  return {
    reports,
    failed,
    passed: checks.length - failed,
    seconds: (performance.now() - t0) / 1000,
    table: lines.join('\n'),
  };
}
