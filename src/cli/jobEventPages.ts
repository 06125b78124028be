import type { JobEvent } from '../domain/events.ts';
import type { ApiClient } from './apiClient.ts';

interface JobEventsPage {
  events: JobEvent[];
  next_after: number | null;
  head: number;
}

const PAGE = 1000;

/**
 * A job's events over the polling API, oldest first, page by page: after `after` (exclusive), or from the
 * first at or after `since`, or (neither) from the start.
 */
export async function* jobEventPages(
  api: ApiClient,
  jobId: string,
  from: { after?: number; since?: string },
): AsyncGenerator<JobEvent> {
  let query: Record<string, string | number | undefined> =
    from.after === undefined && from.since !== undefined
      ? { since: from.since, limit: PAGE }
      : { after: from.after ?? -1, limit: PAGE };
  for (;;) {
    const page = await api.get<JobEventsPage>(`/jobs/${jobId}/events`, query);
    for (const event of page.events) yield event;
    const last = page.events.at(-1);
    if (!last || last.seq >= page.head) return;
    query = { after: last.seq, limit: PAGE };
  }
}
