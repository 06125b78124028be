import type { z } from 'zod';
import { durationSchema } from '../../domain/pipeline.ts';

/**
 * Per-parse zod error map: plain-language messages that quote the offending value. Messages written into
 * the schema itself (e.g. the duration format) take precedence over these, as zod ranks them higher.
 */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `missing, expected ${expectedName(issue.expected)}`;
      return `expected ${expectedName(issue.expected)}, got ${describeValue(issue.input)}`;
    case 'invalid_value':
      if (issue.input === undefined) return `missing, expected one of ${issue.values.map(String).join(', ')}`;
      return `expected ${issue.values.length === 1 ? '' : 'one of '}${issue.values.map(String).join(', ')}, got ${describeValue(issue.input)}`;
    case 'too_small':
    case 'too_big':
      return sizeMessage(
        issue.code,
        issue.origin,
        Number(issue.code === 'too_small' ? issue.minimum : issue.maximum),
        issue.inclusive ?? true,
        issue.input,
      );
    case 'invalid_format':
      if (issue.format === 'regex') return `must match ${issue.pattern}, got ${describeValue(issue.input)}`;
      return `expected a valid ${issue.format}, got ${describeValue(issue.input)}`;
    case 'invalid_key':
      return `not a valid name: ${issue.issues.map((i) => i.message).join('; ')}`;
    case 'unrecognized_keys':
      return 'unknown key';
    case 'invalid_union':
      if (issue.inst === durationSchema)
        return `expected a duration (500ms, 30s, 10m, 1h, 1d) or a number of milliseconds, got ${describeValue(issue.input)}`;
      return `does not match any accepted form, got ${describeValue(issue.input)}`;
    default:
      return undefined;
  }
};

function sizeMessage(
  code: 'too_small' | 'too_big',
  origin: string,
  limit: number,
  inclusive: boolean,
  input: unknown,
): string | undefined {
  const small = code === 'too_small';
  if (origin === 'number' || origin === 'bigint') {
    const bound = small ? (inclusive ? 'at least' : 'greater than') : inclusive ? 'at most' : 'less than';
    return `must be ${bound} ${limit}, got ${describeValue(input)}`;
  }
  const unit =
    origin === 'string' ? 'character' : origin === 'array' || origin === 'set' ? 'entry' : undefined;
  if (!unit) return undefined;
  const plural = limit === 1 ? unit : unit === 'entry' ? 'entries' : `${unit}s`;
  return `needs ${small ? 'at least' : 'at most'} ${limit} ${plural}`;
}

const EXPECTED_NAMES: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

function expectedName(expected: string): string {
  return EXPECTED_NAMES[expected] ?? expected;
}

/** How a config value is quoted in a message: strings in quotes, collections by kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** `['pipelines', 'demo', 'stages', 2, 'run']` -> `pipelines.demo.stages[2].run`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[\w-]+$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

/** The message for one unknown key: the nearest known key when it looks like a typo, else the known keys. */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const nearest = known
    .map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)[0];
  if (nearest && nearest.d <= Math.max(1, Math.floor(nearest.k.length / 3)))
    return `unknown key, did you mean "${nearest.k}"?`;
  return known.length ? `unknown key (known keys: ${known.join(', ')})` : 'unknown key';
}

interface SchemaDef {
  type: string;
  shape?: Record<string, unknown>;
  innerType?: unknown;
  in?: unknown;
  valueType?: unknown;
  element?: unknown;
}

/** The keys an object schema accepts at `path` (record keys and array indexes are stepped over). */
export function knownKeysAt(schema: unknown, path: readonly PropertyKey[]): string[] {
  let current = schema;
  let i = 0;
  for (;;) {
    const def = (current as { _zod?: { def?: SchemaDef } } | undefined)?._zod?.def;
    if (!def) return [];
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe') current = def.in;
    else if (def.type === 'object' && def.shape) {
      if (i === path.length) return Object.keys(def.shape);
      current = def.shape[String(path[i++])];
    } else if (def.type === 'record' && i < path.length) {
      i++;
      current = def.valueType;
    } else if (def.type === 'array' && i < path.length) {
      i++;
      current = def.element;
    } else return [];
  }
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = row;
  }
  return previous[b.length] ?? 0;
}
