#!/usr/bin/env node
import { Command } from 'commander';
import { serveCommand } from './serveCommand.ts';

const program = new Command('operator')
  .description('operator-events: job pipelines recorded as events — serve the API, audit, replay, rebuild')
  .showHelpAfterError();
program.addCommand(serveCommand());

await program.parseAsync(process.argv);
