#!/usr/bin/env node
import { buildProgram } from './program.ts';
import { reportFailure } from './reportFailure.ts';

// A closed pipe (`operator events export ... | head`) is a normal end, not a crash.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

try {
  await (await buildProgram(process.argv)).parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportFailure(error);
}
