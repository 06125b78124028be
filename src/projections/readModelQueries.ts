import type { JobStatus } from '../domain/events.ts';
import type { JobSummary } from './jobSummary.ts';

/** What the read model's queries take and answer (`ReadModel`). */

export interface JobEventsQuery {
  /** Exclusive seq cursor: events with `seq > after`. Wins over `since` when both are given. */
  after?: number;
  /** Inclusive ISO time: events from the first one with `ts >= since`. */
  since?: string;
  limit: number;
}

export interface JobEventsPage {
  /** Canonical JSON of each event, chronological (by seq): ready to send without re-serialising. */
  events: string[];
  /**
   * The `after` for the next call: the last seq returned; with nothing returned, the `after` given, else
   * the job's head (null when the job has no event yet).
   */
  next_after: number | null;
  /** seq of the job's last event, -1 when none. */
  head: number;
}

export interface GlobalEventsFilter {
  jobId?: string;
  types?: readonly string[];
}

export interface GlobalEventsPage {
  events: string[];
  /**
   * The `after` for the next call: the position of the last event examined (filtered-out ones count, so
   * a rare type does not make every poll rescan), or the `after` given when there was nothing new.
   */
  next_after: string | null;
}

export interface ListJobsQuery {
  /** One of the job statuses; any other value matches no job. */
  status?: JobStatus | (string & {});
  limit: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

export interface JobListPage {
  /** Newest (by `created_at`) first. */
  jobs: JobSummary[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}
