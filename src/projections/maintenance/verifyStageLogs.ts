import type { JobEvent } from '../../domain/events.ts';
import { stageRuns } from '../../domain/logRecord.ts';
import type { EventStore } from '../../infra/eventstore/eventStore.ts';
import { readStageLog } from '../../infra/eventstore/stageLogStreams.ts';
import { isUnsafeFileError, readPrivateIfPresent } from '../../infra/files/privateFile.ts';
import { comparePositions, recordBytes, stageLogFile } from '../index.ts';
import type { ProjectionDifference } from './projectionDifference.ts';

/**
 * Diffs each `logs/<stage>.log` of a job against the stage's log records in the store. The file must hold
 * the store's log from its first byte, at least up to the records at or below the `logs` checkpoint, and
 * nothing the store does not have (a live server may have written past the checkpoint meanwhile). Stages
 * without log records are not checked: their files, if any, predate logs in the store.
 */
export async function verifyStageLogs(
  store: EventStore,
  runsDir: string,
  jobId: string,
  events: readonly JobEvent[],
  checkpoint: string | null,
): Promise<ProjectionDifference[]> {
  const diffs: ProjectionDifference[] = [];
  const stages = [...new Set(events.filter((e) => e.type === 'stage_started').map((e) => e.stage as string))];
  for (const stage of stages) {
    const file = stageLogFile(runsDir, jobId, stage);
    if (file === null) continue;
    // The file first: whatever a live server appends after this read is in the store by the time it is read.
    // Not a plain read: a FIFO a stage put under the name would make it wait for good.
    const text = await readPrivateIfPresent(file);
    const parts: Buffer[] = [];
    let required = 0;
    for await (const stored of readStageLog(store, jobId, stage, stageRuns(events, stage))) {
      parts.push(recordBytes(stored));
      if (checkpoint !== null && comparePositions(stored.position, checkpoint) <= 0)
        required = Math.max(required, stored.end);
    }
    if (parts.length === 0) continue;
    const expected = Buffer.concat(parts);
    const at = (kind: ProjectionDifference['kind'], detail: string, line?: number) =>
      diffs.push({
        projection: 'logs',
        kind,
        job_id: jobId,
        file,
        ...(line === undefined ? {} : { line }),
        detail,
      });
    if (isUnsafeFileError(text)) {
      at('unreadable', `${text.reason}: not read`);
      continue;
    }
    if (text === null) {
      if (required > 0) at('missing', `file missing (${required} bytes expected)`);
      continue;
    }
    const common = commonPrefix(text, expected);
    if (common < Math.min(text.length, expected.length))
      at('different', `differs from the store at byte ${common}`, lineAt(expected, common));
    else if (text.length > expected.length)
      at('extra', `${text.length - expected.length} bytes the store does not have`, lineAt(text, common));
    else if (text.length < required)
      at('missing', `${required - text.length} bytes missing at the end`, lineAt(expected, text.length));
  }
  return diffs;
}

function commonPrefix(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** The 1-based line holding byte `offset`. */
function lineAt(bytes: Buffer, offset: number): number {
  let line = 1;
  for (let i = bytes.indexOf(0x0a); i >= 0 && i < offset; i = bytes.indexOf(0x0a, i + 1)) line++;
  return line;
}
