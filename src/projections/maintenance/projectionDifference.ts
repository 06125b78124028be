export type DifferenceKind = 'missing' | 'extra' | 'different' | 'stale' | 'unreadable';

/** One way a projection differs from what the log says it must hold. */
export interface ProjectionDifference {
  projection: 'jsonl' | 'state' | 'readmodel' | 'logs';
  kind: DifferenceKind;
  job_id: string;
  seq?: number;
  /** For the file projections: the file, and the 1-based line of events.jsonl. */
  file?: string;
  line?: number;
  /** For the read model: `g<N>:<table>[<key>]`. */
  row?: string;
  detail: string;
}

/** One line per difference: where (file:line or row), what, and which job and seq. */
export function formatDifference(d: ProjectionDifference, displayPath: (file: string) => string): string {
  const where = d.file
    ? `${displayPath(d.file)}${d.line === undefined ? '' : `:${d.line}`}`
    : `readmodel ${d.row}`;
  const seq = d.seq === undefined ? '' : `, seq ${d.seq}`;
  return `${where}: ${d.kind} (job ${d.job_id}${seq}): ${d.detail}`;
}

/** Names of the top-level fields whose JSON differs; `[]` when equal. */
export function differingFields(actual: unknown, expected: unknown): string[] {
  if (!isRecord(actual) || !isRecord(expected))
    return JSON.stringify(actual) === JSON.stringify(expected) ? [] : ['(whole value)'];
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
  return keys.filter((k) => JSON.stringify(actual[k]) !== JSON.stringify(expected[k]));
}

/** `field: got X, expected Y` for the first few differing fields. */
export function describeFields(actual: unknown, expected: unknown, max = 3): string {
  const fields = differingFields(actual, expected);
  const a = isRecord(actual) ? actual : {};
  const e = isRecord(expected) ? expected : {};
  const parts = fields.slice(0, max).map((k) => `${k} is ${short(a[k])}, expected ${short(e[k])}`);
  if (fields.length > max) parts.push(`and ${fields.length - max} more field(s)`);
  return parts.join('; ');
}

function short(value: unknown): string {
  const text = value === undefined ? 'absent' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
