import type { JobEvent } from '../../domain/events.ts';
import { isTerminal } from '../../domain/events.ts';
import { hasRetriesLeft, stageState } from '../../domain/jobDecider.ts';
import type { JobState } from '../../domain/jobState.ts';
import type { StageRun } from '../../domain/logRecord.ts';
import { formatLogLine, logLineBytes, stageRuns } from '../../domain/logRecord.ts';
import type { EventStore } from '../../infra/eventstore/eventStore.ts';
import type { StoredStageLog } from '../../infra/eventstore/stageLogStreams.ts';
import { readJobStream, readStageLog } from '../../infra/eventstore/stageLogStreams.ts';
import { foldJob } from '../../projections/index.ts';
import type { SseSession } from '../sse/sseSession.ts';
import type { StageLogHub } from './stageLogHub.ts';

/** True while the stage may still write to its log: running, due for a retry, or reset to run again. */
export function stageMayWrite(state: JobState, stage: string): boolean {
  if (state.status === 'none' || isTerminal(state.status)) return false;
  const s = stageState(state, stage);
  if (!s) return false;
  if (s.status === 'running' || s.status === 'pending') return true;
  return s.status === 'failed' && state.status === 'running' && hasRetriesLeft(state, stage);
}

/** The SSE frames of a record's lines that end past `offset` (`id:` = the byte offset after the line). */
export function recordFrames(stored: StoredStageLog, offset: number): { frames: string; end: number } {
  let at = stored.record.offset;
  let frames = '';
  for (const line of stored.record.lines) {
    at += logLineBytes(line);
    // A CR would end an SSE line early: dropped, as the file-based route did.
    if (at > offset) frames += `id: ${at}\ndata: ${formatLogLine(line).slice(0, -1).replace(/\r/g, '')}\n\n`;
  }
  return { frames, end: Math.max(at, offset) };
}

export interface FollowStageLogOptions {
  store: EventStore;
  hub: StageLogHub;
  session: SseSession;
  jobId: string;
  stage: string;
  /** Byte offset to send from (`Last-Event-ID`, or 0). */
  from: number;
}

/**
 * Streams a stage's log from `from` until the stage can no longer write to it, then resolves the final
 * offset (null when the client went away). History comes from the store; then the process's live
 * subscription (the hub) says what is new. A record that starts past what was sent means notices were
 * lost: the gap is read from the store. When the job moves, its state is read again before the store, so
 * once it says the stage is over, everything the stage wrote is in that last read. The job is first read
 * after joining the hub: an event between the request's own read and the join would otherwise go unheard
 * (a stage that ended then would be followed forever).
 */
export async function followStageLog(options: FollowStageLogOptions): Promise<number | null> {
  const { store, hub, session, jobId, stage } = options;
  const follower = await hub.join(jobId, stage);
  try {
    let offset = options.from;
    let events: readonly JobEvent[] = [];
    let runs: StageRun[] = [];
    let catchUp = true;
    let reload = true;
    for (;;) {
      if (catchUp) {
        if (reload) {
          events = await readJobStream(store, jobId);
          runs = stageRuns(events, stage);
        }
        const state = foldJob(events).state;
        for await (const stored of readStageLog(store, jobId, stage, runs, offset)) {
          const sent = await send(session, stored, offset);
          if (sent === null) return null;
          offset = sent;
        }
        if (!stageMayWrite(state, stage)) return offset;
        catchUp = false;
        reload = false;
      }
      const notices = await follower.take(session.signal);
      if (session.closed) return null;
      for (const notice of notices) {
        if (notice.kind === 'job') catchUp = reload = true;
        // Lost notices may have held the job's own (its stage ended): read the job again too.
        else if (notice.kind === 'lost') catchUp = reload = true;
        else if (!catchUp) {
          if (notice.stored.record.offset > offset) catchUp = true;
          else {
            const sent = await send(session, notice.stored, offset);
            if (sent === null) return null;
            offset = sent;
          }
        }
      }
    }
  } finally {
    hub.leave(follower);
  }
}

/**
 * The frames of a whole record, made once: the hub hands the same record to every follower of the stage, and
 * each of them that is caught up sends all of its lines, the same bytes.
 */
const wholeRecords = new WeakMap<StoredStageLog, { frames: Buffer; end: number }>();

function wholeRecordFrames(stored: StoredStageLog): { frames: Buffer; end: number } {
  let made = wholeRecords.get(stored);
  if (!made) {
    const { frames, end } = recordFrames(stored, stored.record.offset);
    made = { frames: Buffer.from(frames), end };
    wholeRecords.set(stored, made);
  }
  return made;
}

async function send(session: SseSession, stored: StoredStageLog, offset: number): Promise<number | null> {
  if (offset <= stored.record.offset) {
    // Every line goes: the shared frames, written as one ready chunk to each socket.
    const { frames, end } = wholeRecordFrames(stored);
    if (frames.length > 0 && !(await session.send(frames, 1, true))) return null;
    return end;
  }
  const { frames, end } = recordFrames(stored, offset);
  if (frames !== '' && !(await session.send(frames))) return null;
  return end;
}
