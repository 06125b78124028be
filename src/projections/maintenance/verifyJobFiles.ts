import type { JobEvent } from '../../domain/events.ts';
import { ownGate } from '../../domain/jobState.ts';
import { isUnsafeFileError, readPrivateIfPresent } from '../../infra/files/privateFile.ts';
import type { RunPaths } from '../../infra/files/runsLayout.ts';
import { listNames, runPaths } from '../../infra/files/runsLayout.ts';
import { comparePositions, expectedJobFiles, jsonlLine } from '../index.ts';
import type { ProjectionDifference } from './projectionDifference.ts';
import { describeFields } from './projectionDifference.ts';

/** Events at or below a checkpoint: what a projection with that checkpoint must reflect. */
export function upTo(events: readonly JobEvent[], checkpoint: string | null): JobEvent[] {
  if (checkpoint === null) return [];
  return events.filter((e) => comparePositions(e.position, checkpoint) <= 0);
}

/**
 * Diffs `runs/<id>/events.jsonl` against the job's events up to the jsonl checkpoint, line by line, by seq:
 * a line that is not the expected one is `different` (same seq), `extra` (a seq already passed: a
 * duplicate or a stray) or marks `missing` lines (a later seq: the expected ones were lost). Lines past the
 * checkpoint are fine when they are exactly the store's next events (a live server wrote them meanwhile).
 */
export function verifyJsonl(
  files: JobFiles,
  events: readonly JobEvent[],
  checkpoint: string | null,
): ProjectionDifference[] {
  const { jobId } = files;
  const file = files.paths.events;
  const expected = upTo(events, checkpoint);
  const text = files.jsonl;
  const diffs: ProjectionDifference[] = [];
  const at = (kind: ProjectionDifference['kind'], line: number, seq: number | undefined, detail: string) =>
    diffs.push({
      projection: 'jsonl',
      kind,
      job_id: jobId,
      file,
      line,
      ...(seq === undefined ? {} : { seq }),
      detail,
    });
  const refused = files.refused.get(file);
  if (refused !== undefined) {
    diffs.push({ projection: 'jsonl', kind: 'unreadable', job_id: jobId, file, detail: refused });
    return diffs;
  }
  if (text === null) {
    if (expected.length > 0)
      diffs.push({
        projection: 'jsonl',
        kind: 'missing',
        job_id: jobId,
        file,
        detail: `file missing (${expected.length} line(s) expected, seq 0..${(expected.at(-1) as JobEvent).seq})`,
      });
    return diffs;
  }
  const lines = text.split('\n');
  const torn = lines.pop() as string; // '' when the file ends with a newline
  const bySeq = new Map(events.map((e) => [e.seq, e]));
  const seen = new Set<number>();
  let i = 0;
  let j = 0;
  while (i < lines.length && j < expected.length) {
    const want = expected[j] as JobEvent;
    const got = lines[i] as string;
    if (got === jsonlLine(want).slice(0, -1)) {
      seen.add(want.seq);
      i++;
      j++;
      continue;
    }
    const parsed = parseLine(got);
    if (parsed === null || parsed.seq === want.seq) {
      const detail =
        parsed === null ? 'not a JSON event' : describeFields(parsed, JSON.parse(jsonlLine(want)));
      at('different', i + 1, want.seq, `line differs from the store: ${detail}`);
      seen.add(want.seq);
      i++;
      j++;
    } else if (parsed.seq < want.seq) {
      const what = seen.has(parsed.seq)
        ? `a duplicate of seq ${parsed.seq}`
        : `seq ${parsed.seq} out of order`;
      at('extra', i + 1, parsed.seq, `extra line: ${what}`);
      i++;
    } else {
      at('missing', i + 1, want.seq, `line for seq ${want.seq} missing (found seq ${parsed.seq} here)`);
      j++;
    }
  }
  for (; j < expected.length; j++) {
    const want = expected[j] as JobEvent;
    at('missing', lines.length + 1, want.seq, `line for seq ${want.seq} missing at the end of the file`);
  }
  let next = expected.length > 0 ? (expected.at(-1) as JobEvent).seq + 1 : 0;
  for (; i < lines.length; i++) {
    const got = lines[i] as string;
    const event = bySeq.get(next);
    if (event && got === jsonlLine(event).slice(0, -1)) {
      next++;
      continue;
    }
    const parsed = parseLine(got);
    const what =
      parsed === null
        ? 'not a JSON event'
        : seen.has(parsed.seq) || parsed.seq < next
          ? `a duplicate of seq ${parsed.seq}`
          : `seq ${parsed.seq} the store does not have here`;
    at('extra', i + 1, parsed?.seq, `extra line: ${what}`);
  }
  if (torn !== '') at('unreadable', lines.length + 1, undefined, 'torn last line (no newline)');
  return diffs;
}

/**
 * Checks `state.json` and `gates/*.json` against the fold of the job's events. A live server may have
 * written past the snapshot: a state file whose seq is above the checkpoint's is compared with the fold up
 * to its own seq; gate files with the fold up to the state file's seq (or, failing that, the store head).
 */
export function verifyStateFiles(
  files: JobFiles,
  events: readonly JobEvent[],
  checkpoint: string | null,
): ProjectionDifference[] {
  const { jobId, paths } = files;
  const expectedEvents = upTo(events, checkpoint);
  const expectedSeq = expectedEvents.at(-1)?.seq ?? -1;
  const diffs: ProjectionDifference[] = [];
  const push = (d: Omit<ProjectionDifference, 'projection' | 'job_id'>) =>
    diffs.push({ projection: 'state', job_id: jobId, ...d });
  const text = files.state;
  let reflected = expectedSeq;
  const refused = files.refused.get(paths.state);
  if (refused !== undefined) {
    push({ kind: 'unreadable', file: paths.state, detail: refused });
  } else if (text === null) {
    if (expectedSeq >= 0)
      push({
        kind: 'missing',
        file: paths.state,
        seq: expectedSeq,
        detail: `file missing (state at seq ${expectedSeq} expected)`,
      });
  } else {
    const parsed = parseJson(text) as { seq?: unknown } | null;
    if (parsed === null || typeof parsed.seq !== 'number') {
      push({ kind: 'unreadable', file: paths.state, detail: 'not a whole state JSON with a seq' });
    } else if (parsed.seq < expectedSeq) {
      push({
        kind: 'stale',
        file: paths.state,
        seq: parsed.seq,
        detail: `reflects seq ${parsed.seq}, the log has seq ${expectedSeq} at the checkpoint`,
      });
    } else {
      const seq = parsed.seq;
      reflected = seq;
      const want = expectedJobFiles(
        jobId,
        events.filter((e) => e.seq <= seq),
      ).state;
      if (want === null)
        push({
          kind: 'extra',
          file: paths.state,
          seq: parsed.seq,
          detail: 'the log has no event for this job',
        });
      else if (want !== text)
        push({
          kind: 'different',
          file: paths.state,
          seq: parsed.seq,
          detail: describeFields(parsed, JSON.parse(want)),
        });
    }
  }
  const gates = expectedJobFiles(
    jobId,
    events.filter((e) => e.seq <= reflected),
  ).gates;
  const latest = expectedJobFiles(jobId, events).gates;
  const present = [...files.gates.keys(), ...refusedGates(files)];
  for (const name of [...new Set([...Object.keys(gates), ...present])].sort()) {
    const file = `${paths.gatesDir}/${name}.json`;
    const refusedGate = files.refused.get(file);
    if (refusedGate !== undefined) {
      push({ kind: 'unreadable', file, detail: refusedGate });
      continue;
    }
    // Own entries only: a planted `constructor.json` is an extra file, not a gate every object has.
    const want = ownGate(gates, name);
    const got = files.gates.get(name) ?? null;
    if (got === want || (got !== null && got === ownGate(latest, name))) continue;
    if (got === null) push({ kind: 'missing', file, detail: `gate file missing (gate ${name})` });
    else if (want === undefined)
      push({ kind: 'extra', file, detail: `gate ${name} has no file in the log's fold` });
    else {
      const parsed = parseJson(got);
      push({
        kind: parsed === null ? 'unreadable' : 'different',
        file,
        ...(parsed && typeof (parsed as { seq?: unknown }).seq === 'number'
          ? { seq: (parsed as { seq: number }).seq }
          : {}),
        detail: parsed === null ? 'not whole JSON' : describeFields(parsed, JSON.parse(want)),
      });
    }
  }
  return diffs;
}

/** A job's projection files as read at one moment (before the store is read: see `verifyProjections`). */
export interface JobFiles {
  jobId: string;
  paths: RunPaths;
  jsonl: string | null;
  state: string | null;
  /** By gate name. */
  gates: Map<string, string>;
  /**
   * Files left unread because something other than a plain file stands under the name (a link, a FIFO
   * whose read would wait for good, a hard link: what a stage could put there), by path: why.
   */
  refused: Map<string, string>;
}

export async function readJobFiles(runsDir: string, jobId: string): Promise<JobFiles> {
  const paths = runPaths(runsDir, jobId);
  const refused = new Map<string, string>();
  const jsonl = await readText(paths.events, refused);
  const state = await readText(paths.state, refused);
  const gates = new Map<string, string>();
  // Every name, not only plain files: a link or FIFO under a gate's name is named as unreadable.
  for (const file of await listNames(paths.gatesDir, '.json')) {
    const text = await readText(`${paths.gatesDir}/${file}`, refused);
    if (text !== null) gates.set(file.slice(0, -'.json'.length), text);
  }
  return { jobId, paths, jsonl, state, gates, refused };
}

/** The file's text; null when it is missing, or refused (noted in `refused`). */
async function readText(path: string, refused: Map<string, string>): Promise<string | null> {
  const bytes = await readPrivateIfPresent(path);
  if (!isUnsafeFileError(bytes)) return bytes?.toString('utf8') ?? null;
  refused.set(path, `${bytes.reason}: not read`);
  return null;
}

/** Gate names whose file was refused, from the paths `readJobFiles` noted. */
function refusedGates(files: JobFiles): string[] {
  const dir = `${files.paths.gatesDir}/`;
  return [...files.refused.keys()]
    .filter((path) => path.startsWith(dir) && path.endsWith('.json'))
    .map((path) => path.slice(dir.length, -'.json'.length));
}

function parseLine(line: string): { seq: number; [k: string]: unknown } | null {
  const value = parseJson(line) as { seq?: unknown } | null;
  return value && typeof value.seq === 'number' ? (value as { seq: number }) : null;
}

function parseJson(text: string): unknown {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? value : null;
  } catch {
    return null;
  }
}
