import type { ResultRow } from './report.ts';

export interface ScenarioOptions {
  quick: boolean;
  /** Node flags for the operator server child (`--cpu-prof ...` when profiling). */
  serverNodeArgs: readonly string[];
  /** Where profiles go when profiling (`--profile`), else null. */
  profileDir: string | null;
  log: (line: string) => void;
}

export interface ScenarioOutput {
  rows: ResultRow[];
  /** Lines for the report's preamble (sizes scaled down, limits raised, clocks used). */
  notes?: string[];
  details: Record<string, unknown>;
}

export type Scenario = (options: ScenarioOptions) => Promise<ScenarioOutput>;
