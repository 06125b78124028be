import { Command } from 'commander';
import { JOB_ID_PATTERN } from '../domain/eventNames.ts';
import type { JobEvent } from '../domain/events.ts';
import type { ServerOptions } from './apiClient.ts';
import { ApiClient, withServerOptions } from './apiClient.ts';
import { usageError } from './cliError.ts';
import { eventFilter, jsonLine, NAMES_HELP, parseNames, parseSince, parseTypes } from './eventOptions.ts';
import { eventLine } from './output.ts';
import { followSse } from './sseFollow.ts';

interface TailOptions extends ServerOptions {
  after?: string;
  since?: string;
  type?: string;
  stage?: string;
  count?: string;
  json?: boolean;
  names?: string;
}

/** `operator events tail [<job>]`: live events over SSE, resuming after a dropped connection. */
export function eventsTailCommand(): Command {
  return withServerOptions(new Command('tail'))
    .description('follow events live over SSE (one job, or every job); reconnects and resumes on its own')
    .argument('[job]', 'job id (default: every job)')
    .option('--after <id>', 'start after this id: a seq for one job, a position for every job')
    .option('--since <iso>', 'start at the first event at or after this time')
    .option('--type <types>', 'only these event types (comma-separated)')
    .option('--stage <name>', 'only events of this stage')
    .option('--count <n>', 'exit after printing this many events')
    .option('--json', 'one canonical event JSON per line (NDJSON)')
    .option('--names <style>', NAMES_HELP, 'canonical')
    .addHelpText(
      'after',
      "\nWithout --after / --since it starts with the next new event. A job's tail ends (exit 0) after the\njob's terminal event; the all-jobs tail runs until Ctrl-C. After a dropped connection it reconnects\nwith Last-Event-ID = the id of the last event it printed, so no event is lost or printed twice.\n\nExample:\n  $ operator events tail j_01HX...\n  $ operator events tail --type job_failed,gate_pause --json",
    )
    .action(async (jobId: string | undefined, opts: TailOptions) => {
      if (jobId !== undefined && !JOB_ID_PATTERN.test(jobId))
        throw usageError(`job id must match ${JOB_ID_PATTERN}`);
      const names = parseNames(opts.names);
      const types = parseTypes(opts.type);
      const keep = eventFilter(types, opts.stage);
      const since = parseSince(opts.since);
      if (opts.after !== undefined && !/^-?\d+$/.test(opts.after))
        throw usageError('--after must be a seq (one job) or a position (every job)');
      const limit = opts.count === undefined ? Number.POSITIVE_INFINITY : Number(opts.count);
      if (!(limit > 0)) throw usageError('--count must be a positive number');
      const api = new ApiClient(opts);
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let printed = 0;
      try {
        await followSse({
          api,
          path: jobId === undefined ? '/events/stream' : `/jobs/${jobId}/events/stream`,
          query: {
            after: opts.after,
            since,
            // the all-jobs stream filters by type on the server
            type: jobId === undefined && types ? [...types].join(',') : undefined,
          },
          signal: controller.signal,
          onEvent: async (message) => {
            const event = JSON.parse(message.data) as JobEvent;
            if (!keep(event)) return;
            const line = opts.json ? jsonLine(message.data, names) : eventLine(event, jobId === undefined);
            if (!process.stdout.write(line)) await new Promise((r) => process.stdout.once('drain', r));
            if (++printed >= limit) controller.abort();
          },
          onReconnect: ({ lastEventId, inMs, reason }) => {
            process.stderr.write(
              `operator: connection lost (${reason}); reconnecting in ${(inMs / 1000).toFixed(1)}s, resuming after id ${lastEventId ?? '(start)'}\n`,
            );
          },
        });
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
