import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MachineInfo } from './machine.ts';
import { machineLine } from './machine.ts';

/**
 * One line of a results table: a figure, the baseline measured in the same run, and the target.
 * `met` is null where the issue sets no target (the figure is reported only).
 */
export interface ResultRow {
  scenario: string;
  figure: number;
  unit: string;
  baseline: number | null;
  baselineLabel: string;
  target: string;
  met: boolean | null;
  notes?: string;
}

export interface Report {
  title: string;
  command: string;
  machine: MachineInfo;
  started: string;
  seconds: number;
  /** Lines printed above the table: file-descriptor limits, scaled-down sizes, clocks used. */
  preamble: string[];
  rows: ResultRow[];
  /** Anything measured besides the rows (per-scenario details). */
  details: Record<string, unknown>;
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

const verdict = (met: boolean | null): string => (met === null ? 'reported' : met ? 'met' : '**missed**');

/** The markdown table: machine on top, then every figure beside its baseline, the ratio and the verdict. */
export function markdownReport(report: Report): string {
  const lines = [
    `## ${report.title}`,
    '',
    `Machine: ${machineLine(report.machine)}`,
    `Command: \`${report.command}\` (started ${report.started}, ${Math.round(report.seconds)} s)`,
    ...report.preamble.map((p) => `- ${p}`),
    '',
    '| scenario | figure | baseline (same run) | ratio | target | result | notes |',
    '|---|--:|--:|--:|---|---|---|',
  ];
  for (const row of report.rows) {
    const baseline =
      row.baseline === null
        ? row.baselineLabel
        : `${formatNumber(row.baseline)} ${row.unit} (${row.baselineLabel})`;
    const ratio =
      row.baseline === null || row.baseline === 0 ? '—' : `${formatNumber(row.figure / row.baseline)}×`;
    lines.push(
      `| ${row.scenario} | ${formatNumber(row.figure)} ${row.unit} | ${baseline} | ${ratio} | ${row.target} | ${verdict(row.met)} | ${row.notes ?? ''} |`,
    );
  }
  const missed = report.rows.filter((r) => r.met === false).length;
  const met = report.rows.filter((r) => r.met === true).length;
  lines.push(
    '',
    `${met} targets met, ${missed} missed, ${report.rows.length - met - missed} reported without a target.`,
  );
  return lines.join('\n');
}

/** Writes `bench/results/<name>-<time>.json` and `<name>-latest.json`; returns the first path. */
export async function writeResults(name: string, report: Report): Promise<string> {
  const dir = fileURLToPath(new URL('../results/', import.meta.url));
  await mkdir(dir, { recursive: true });
  const stamp = report.started.replace(/[:.]/g, '-');
  const body = `${JSON.stringify(report, null, 2)}\n`;
  const path = join(dir, `${name}-${stamp}.json`);
  await writeFile(path, body);
  await writeFile(join(dir, `${name}-latest.json`), body);
  return path;
}
