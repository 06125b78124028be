#!/usr/bin/env node
import { buildProgram } from './program.ts';
import { reportFailure } from './reportFailure.ts';

// A closed pipe (`operator events export ... | head`) is a normal end, not a crash. Any other write error
// (a full disk, a device that refuses: `> /dev/full`) is a failure, said in one line.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`operator: cannot write the output: ${error.message}\n`);
  process.exit(1);
});

// Owner-only files for everything a command writes (exports, backups, rebuilt projections, archives): they
// hold every job's params and payloads. `serve` sets the same for the server and its stage commands.
process.umask(0o077);

try {
  await (await buildProgram(process.argv)).parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportFailure(error);
}
