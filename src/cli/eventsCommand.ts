import { Command } from 'commander';
import { eventsExportCommand } from './eventsExportCommand.ts';
import { eventsReadCommand } from './eventsReadCommand.ts';
import { eventsReplayCommand } from './eventsReplayCommand.ts';
import { eventsTailCommand } from './eventsTailCommand.ts';

/** `operator events ...`: audit, live tail, export and replay of the event log. */
export function eventsCommand(): Command {
  return new Command('events')
    .description('read, tail, export and replay the event log (audit)')
    .addHelpText(
      'after',
      '\nread, tail and replay talk to a running server; export reads the local event store.\n\nExample:\n  $ operator events read j_01HX... --type gate_approved,gate_rejected\n  $ operator events tail\n  $ operator events export --from 0 --out audit.ndjson',
    )
    .addCommand(eventsReadCommand())
    .addCommand(eventsTailCommand())
    .addCommand(eventsExportCommand())
    .addCommand(eventsReplayCommand());
}
