import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import { isSafeName } from '../infra/files/runsLayout.ts';
import { isAtOrBelow } from './positions.ts';

/**
 * The batch's events above `checkpoint`, by job, in seq order. With `safeIdsOnly`, events of a job whose
 * id cannot become a path are left out (logged): they can never be written, and retrying would stall
 * every projection behind them.
 */
export function groupByJob(
  batch: readonly JobEvent[],
  checkpoint: string | null,
  options: { safeIdsOnly?: boolean; logger?: Logger; projection?: string } = {},
): Map<string, JobEvent[]> {
  const byJob = new Map<string, JobEvent[]>();
  for (const event of batch) {
    if (isAtOrBelow(event.position, checkpoint)) continue;
    if (options.safeIdsOnly && !isSafeName(event.job_id)) {
      options.logger?.error(
        { projection: options.projection, job_id: event.job_id, position: event.position },
        'event skipped: its job id cannot be used in a path',
      );
      continue;
    }
    const list = byJob.get(event.job_id);
    if (list) list.push(event);
    else byJob.set(event.job_id, [event]);
  }
  return byJob;
}
