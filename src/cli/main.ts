#!/usr/bin/env node
import { Command } from 'commander';
import { eventsCommand } from './eventsCommand.ts';
import { jobsCommand } from './jobsCommand.ts';
import { projectionsCommand } from './projectionsCommand.ts';
import { reportFailure } from './reportFailure.ts';
import { retentionCommand } from './retentionCommand.ts';
import { serveCommand } from './serveCommand.ts';
import { storeCommand } from './storeCommand.ts';

const program = new Command('operator')
  .description('operator-events: job pipelines recorded as events — serve the API, audit, replay, rebuild')
  .showHelpAfterError()
  .addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 failure (server unreachable, token refused, drift found...), 2 bad config or\narguments, 130 interrupted.\n\nExample:\n  $ operator serve\n  $ operator jobs list --status paused\n  $ operator events tail\n  $ operator projections verify',
  );
program.addCommand(serveCommand());
program.addCommand(jobsCommand());
program.addCommand(eventsCommand());
program.addCommand(projectionsCommand());
program.addCommand(retentionCommand());
program.addCommand(storeCommand());

// A closed pipe (`operator events export ... | head`) is a normal end, not a crash.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportFailure(error);
}
