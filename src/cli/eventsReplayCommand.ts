import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { JOB_ID_PATTERN } from '../domain/eventNames.ts';
import type { JobEvent } from '../domain/events.ts';
import type { ServerOptions } from './apiClient.ts';
import { ApiClient, withServerOptions } from './apiClient.ts';
import { usageError } from './cliError.ts';
import { eventFilter, jsonLine, NAMES_HELP, parseNames, parseSeq, parseTypes } from './eventOptions.ts';
import { jobEventPages } from './jobEventPages.ts';
import { eventLine } from './output.ts';

interface ReplayOptions extends ServerOptions {
  speed: string;
  maxGap: string;
  after?: string;
  type?: string;
  stage?: string;
  json?: boolean;
  names?: string;
}

/** `operator events replay <job>`: a job's history printed again with its original timing, scaled. */
export function eventsReplayCommand(): Command {
  return withServerOptions(new Command('replay'))
    .description("replay a job's history to the terminal with its original timing, scaled by --speed")
    .argument('<job>', 'job id')
    .option('--speed <factor>', 'time factor: 10x plays ten times faster, 0.5x at half speed', '1x')
    .option('--max-gap <seconds>', 'longest pause between two events, after scaling', '10')
    .option('--after <seq>', 'start after this seq')
    .option('--type <types>', 'only these event types (comma-separated); the timing is kept')
    .option('--stage <name>', 'only events of this stage; the timing is kept')
    .option('--json', 'one canonical event JSON per line (NDJSON)')
    .option('--names <style>', NAMES_HELP, 'canonical')
    .addHelpText(
      'after',
      '\nExample:\n  $ operator events replay j_01HX... --speed 10x\n  $ operator events replay j_01HX... --speed 100x --max-gap 2',
    )
    .action(async (jobId: string, opts: ReplayOptions) => {
      if (!JOB_ID_PATTERN.test(jobId)) throw usageError(`job id must match ${JOB_ID_PATTERN}`);
      const names = parseNames(opts.names);
      const speed = parseSpeed(opts.speed);
      const maxGapMs = Number(opts.maxGap) * 1000;
      if (!(maxGapMs >= 0)) throw usageError('--max-gap must be a number of seconds');
      const keep = eventFilter(parseTypes(opts.type), opts.stage);
      const pages = jobEventPages(new ApiClient(opts), jobId, { after: parseSeq(opts.after, '--after') });
      let previous: JobEvent | undefined;
      let shown = 0;
      for await (const event of pages) {
        if (previous) {
          const gap = (Date.parse(event.ts) - Date.parse(previous.ts)) / speed;
          if (gap > 0) await sleep(Math.min(gap, maxGapMs));
        }
        previous = event;
        if (!keep(event)) continue;
        shown++;
        process.stdout.write(opts.json ? jsonLine(JSON.stringify(event), names) : eventLine(event, false));
      }
      if (!opts.json && shown === 0) process.stdout.write('no events\n');
    });
}

function parseSpeed(value: string): number {
  const match = /^(\d+(?:\.\d+)?|\.\d+)x?$/i.exec(value.trim());
  const speed = match ? Number(match[1]) : Number.NaN;
  if (!(speed > 0)) throw usageError('--speed must be a positive factor such as 10x or 0.5x');
  return speed;
}
