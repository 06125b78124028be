import { Command } from 'commander';
import { JOB_ID_PATTERN } from '../domain/eventNames.ts';
import type { ServerOptions } from './apiClient.ts';
import { ApiClient, withServerOptions } from './apiClient.ts';
import { usageError } from './cliError.ts';
import {
  eventFilter,
  jsonLine,
  NAMES_HELP,
  parseNames,
  parseSeq,
  parseSince,
  parseTypes,
} from './eventOptions.ts';
import { jobEventPages } from './jobEventPages.ts';
import { EVENT_COLUMNS, eventRow, formatTable, LineWriter } from './output.ts';

interface ReadOptions extends ServerOptions {
  after?: string;
  since?: string;
  type?: string;
  stage?: string;
  json?: boolean;
  names?: string;
}

/** `operator events read <job>`: a job's history from the server, as a table or NDJSON. */
export function eventsReadCommand(): Command {
  return withServerOptions(new Command('read'))
    .description("print a job's events (oldest first) as a table, or NDJSON with --json")
    .argument('<job>', 'job id')
    .option('--after <seq>', 'only events after this seq')
    .option('--since <iso>', 'only events at or after this time (ignored with --after)')
    .option('--type <types>', 'only these event types (comma-separated)')
    .option('--stage <name>', 'only events of this stage')
    .option('--json', 'one canonical event JSON per line (NDJSON)')
    .option('--names <style>', NAMES_HELP, 'canonical')
    .addHelpText(
      'after',
      '\nExample:\n  $ operator events read j_01HX... --type gate_approved,gate_rejected\n  $ operator events read j_01HX... --since 2026-11-24T10:00:00Z --json | jq .message',
    )
    .action(async (jobId: string, opts: ReadOptions) => {
      if (!JOB_ID_PATTERN.test(jobId)) throw usageError(`job id must match ${JOB_ID_PATTERN}`);
      const names = parseNames(opts.names);
      const keep = eventFilter(parseTypes(opts.type), opts.stage);
      const pages = jobEventPages(new ApiClient(opts), jobId, {
        after: parseSeq(opts.after, '--after'),
        since: parseSince(opts.since),
      });
      if (opts.json) {
        const out = new LineWriter(process.stdout);
        for await (const event of pages)
          if (keep(event)) await out.write(jsonLine(JSON.stringify(event), names));
        await out.flush();
        return;
      }
      const rows: string[][] = [];
      for await (const event of pages) if (keep(event)) rows.push(eventRow(event));
      process.stdout.write(rows.length === 0 ? 'no events\n' : formatTable(EVENT_COLUMNS, rows));
    });
}
