import { Command } from 'commander';
import { JOB_ID_PATTERN, JOB_STATUSES } from '../domain/eventNames.ts';
import type { JobEvent } from '../domain/events.ts';
import type { JobListRow, JobSummary } from '../projections/index.ts';
import type { ServerOptions } from './apiClient.ts';
import { ApiClient, withServerOptions } from './apiClient.ts';
import { CliError, usageError } from './cliError.ts';
import { formatTable, printable, printJson } from './output.ts';

interface CommandResult {
  job: JobSummary;
  events: JobEvent[];
}

type JsonOption = { json?: boolean };

/** `operator jobs ...`: list, show and drive jobs on a running server. */
export function jobsCommand(): Command {
  const jobs = new Command('jobs')
    .description('list, show, create and drive jobs on a running server')
    .addHelpText(
      'after',
      '\nEvery subcommand talks to the server at --url / $OPERATOR_URL (default http://127.0.0.1:8008)\nwith --token / $OPERATOR_TOKEN.\n\nExample:\n  $ operator jobs list --status paused\n  $ operator jobs approve j_01HX... --comment "looks good"',
    );
  jobs.addCommand(listCommand());
  jobs.addCommand(showCommand());
  jobs.addCommand(createCommand());
  jobs.addCommand(
    simpleCommand('start', 'start a queued job: now when a lane is free, else first in the queue'),
  );
  jobs.addCommand(cancelCommand());
  jobs.addCommand(gateCommand('approve'));
  jobs.addCommand(gateCommand('reject'));
  return jobs;
}

function listCommand(): Command {
  return withServerOptions(new Command('list'))
    .description('list jobs, newest first')
    .option('--status <status>', `only jobs in this status (${JOB_STATUSES.join(', ')})`)
    .option('--limit <n>', 'jobs per page (1-1000)', '50')
    .option('--all', 'follow the pages to the last job')
    .option('--json', 'print {jobs, next_cursor} as JSON')
    .addHelpText('after', '\nExample:\n  $ operator jobs list --status running --json')
    .action(async (opts: ServerOptions & JsonOption & { status?: string; limit: string; all?: boolean }) => {
      if (opts.status && !(JOB_STATUSES as readonly string[]).includes(opts.status))
        throw usageError(`--status must be one of ${JOB_STATUSES.join(', ')}`);
      const limit = Number(opts.limit);
      if (!(Number.isInteger(limit) && limit >= 1 && limit <= 1000))
        throw usageError(`--limit must be a whole number from 1 to 1000, got ${JSON.stringify(opts.limit)}`);
      const api = new ApiClient(opts);
      const rows: JobListRow[] = [];
      let cursor: string | undefined;
      let next: string | null = null;
      do {
        const page: { jobs: JobListRow[]; next_cursor: string | null } = await api.get('/jobs', {
          status: opts.status,
          limit: opts.limit,
          cursor,
        });
        rows.push(...page.jobs);
        next = page.next_cursor;
        cursor = next ?? undefined;
      } while (opts.all && next !== null);
      if (opts.json) {
        printJson({ jobs: rows, next_cursor: opts.all ? null : next });
        return;
      }
      if (rows.length === 0) {
        process.stdout.write('no jobs\n');
        return;
      }
      process.stdout.write(
        formatTable(
          ['JOB', 'STATUS', 'PIPELINE', 'STAGE', 'GATE', 'SEQ', 'UPDATED'],
          rows.map((j) => [
            j.job_id,
            j.status,
            j.pipeline ?? '-',
            j.current_stage ?? '-',
            j.paused_gate ?? '-',
            String(j.seq),
            j.updated_at ?? '-',
          ]),
        ),
      );
      if (next) process.stdout.write(`(more: --all, or --limit above ${opts.limit})\n`);
    });
}

function showCommand(): Command {
  return withServerOptions(new Command('show'))
    .description('show one job (its row in the read model)')
    .argument('<job>', 'job id')
    .option('--json', 'print the job as JSON')
    .addHelpText('after', '\nExample:\n  $ operator jobs show j_01HX... --json')
    .action(async (jobId: string, opts: ServerOptions & JsonOption) => {
      const job = await new ApiClient(opts).get<JobSummary>(`/jobs/${checkedId(jobId)}`);
      if (opts.json) {
        printJson(job);
        return;
      }
      const width = Math.max(...Object.keys(job).map((k) => k.length));
      for (const [key, value] of Object.entries(job))
        process.stdout.write(`${key.padEnd(width)}  ${formatValue(value)}\n`);
    });
}

function createCommand(): Command {
  return withServerOptions(new Command('create'))
    .description('create a job (with --id it is idempotent: an existing job is returned as it is)')
    .option('--pipeline <name>', 'pipeline from the server config (default: pipeline.default)')
    .option('--id <id>', 'client-chosen job id')
    .option(
      '--param <key=value>',
      'a job parameter; the value is JSON when it parses, else text (repeatable)',
      collect,
      [],
    )
    .option('--params <json>', 'all parameters as one JSON object')
    .option('--json', 'print {job, events} as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ operator jobs create --pipeline demo --param topic=cats --param flaky=true\n  $ operator jobs create --id nightly-2026-11-24 --params \'{"date":"2026-11-24"}\'',
    )
    .action(
      async (
        opts: ServerOptions &
          JsonOption & { pipeline?: string; id?: string; param: string[]; params?: string },
      ) => {
        const params = parseParams(opts.params, opts.param);
        const body: Record<string, unknown> = { params };
        if (opts.pipeline) body['pipeline'] = opts.pipeline;
        if (opts.id) body['id'] = checkedId(opts.id);
        const result = await new ApiClient(opts).post<CommandResult>('/jobs', body);
        if (opts.json) {
          printJson(result);
          return;
        }
        const verb = result.events.length > 0 ? 'created' : 'exists already:';
        process.stdout.write(`${verb} job ${result.job.job_id} (${describe(result.job)})\n`);
      },
    );
}

function simpleCommand(name: 'start', description: string): Command {
  return withServerOptions(new Command(name))
    .description(description)
    .argument('<job>', 'job id')
    .option('--force', 'run it even when every lane is taken (pipeline.lanes): admin tokens only')
    .option('--json', 'print {job, events} as JSON')
    .addHelpText(
      'after',
      `\nWithout a free lane the job goes to the front of the queue instead.\n\nExample:\n  $ operator jobs ${name} j_01HX...`,
    )
    .action(async (jobId: string, opts: ServerOptions & JsonOption & { force?: boolean }) => {
      const body = opts.force ? { force: true } : {};
      const result = await new ApiClient(opts).post<CommandResult>(`/jobs/${checkedId(jobId)}/${name}`, body);
      printResult(result, opts.json);
    });
}

function cancelCommand(): Command {
  return withServerOptions(new Command('cancel'))
    .description('cancel a job in any non-terminal state (a running stage is killed)')
    .argument('<job>', 'job id')
    .option('--reason <text>', 'why; recorded in the event')
    .option('--json', 'print {job, events} as JSON')
    .addHelpText('after', '\nExample:\n  $ operator jobs cancel j_01HX... --reason "wrong input"')
    .action(async (jobId: string, opts: ServerOptions & JsonOption & { reason?: string }) => {
      const body = opts.reason === undefined ? {} : { reason: opts.reason };
      const result = await new ApiClient(opts).post<CommandResult>(`/jobs/${checkedId(jobId)}/cancel`, body);
      printResult(result, opts.json);
    });
}

function gateCommand(decision: 'approve' | 'reject'): Command {
  return withServerOptions(new Command(decision))
    .description(`${decision} the gate a paused job waits at`)
    .argument('<job>', 'job id')
    .argument('[gate]', 'gate name (default: the gate the job is paused at)')
    .option('--comment <text>', 'recorded with the decision (audit)')
    .option('--json', 'print {job, events} as JSON')
    .addHelpText(
      'after',
      `\nExample:\n  $ operator jobs ${decision} j_01HX... --comment "${decision === 'approve' ? 'ship it' : 'too dark'}"\n  $ operator jobs ${decision} j_01HX... storyboard`,
    )
    .action(
      async (
        jobId: string,
        gate: string | undefined,
        opts: ServerOptions & JsonOption & { comment?: string },
      ) => {
        const api = new ApiClient(opts);
        const id = checkedId(jobId);
        let name = gate;
        if (name === undefined) {
          const job = await api.get<JobSummary>(`/jobs/${id}`);
          if (!job.paused_gate)
            throw new CliError(
              `job ${id} is not paused at a gate (status ${job.status}); name the gate to ${decision}`,
            );
          name = job.paused_gate;
        }
        const body = opts.comment === undefined ? {} : { comment: opts.comment };
        const result = await api.post<CommandResult>(
          `/jobs/${id}/gates/${encodeURIComponent(name)}/${decision}`,
          body,
        );
        printResult(result, opts.json);
      },
    );
}

function printResult(result: CommandResult, json: boolean | undefined): void {
  if (json) {
    printJson(result);
    return;
  }
  const appended = result.events.map((e) => e.type).join(', ') || 'nothing';
  process.stdout.write(`job ${result.job.job_id}: ${describe(result.job)}; appended ${appended}\n`);
}

function describe(job: JobListRow): string {
  const parts: string[] = [job.status];
  if (job.pipeline) parts.push(`pipeline ${job.pipeline}`);
  if (job.current_stage) parts.push(`stage ${job.current_stage}`);
  if (job.paused_gate) parts.push(`paused at gate ${job.paused_gate}`);
  parts.push(`seq ${job.seq}`);
  return parts.join(', ');
}

function checkedId(jobId: string): string {
  if (!JOB_ID_PATTERN.test(jobId))
    throw usageError(`job id ${JSON.stringify(jobId)} must match ${JOB_ID_PATTERN}`);
  return jobId;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseParams(json: string | undefined, pairs: readonly string[]): Record<string, unknown> {
  let params: Record<string, unknown> = {};
  if (json !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      throw usageError('--params must be a JSON object');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw usageError('--params must be a JSON object');
    params = value as Record<string, unknown>;
  }
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usageError(`--param ${JSON.stringify(pair)} must look like key=value`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // plain text
    }
    params[pair.slice(0, eq)] = value;
  }
  return params;
}

function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '-';
  return printable(typeof value === 'object' ? JSON.stringify(value) : String(value));
}
