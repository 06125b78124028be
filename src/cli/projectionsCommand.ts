import { Command } from 'commander';
import { projectionsRebuildCommand } from './projectionsRebuildCommand.ts';
import { projectionsStatusCommand } from './projectionsStatusCommand.ts';
import { projectionsVerifyCommand } from './projectionsVerifyCommand.ts';

/** `operator projections ...`: status, rebuild and verify of runs/ files and the read model. */
export function projectionsCommand(): Command {
  return new Command('projections')
    .description('status, rebuild and verify of the projections (runs/ files and the read model)')
    .addHelpText(
      'after',
      '\nProjections: jsonl (runs/<id>/events.jsonl), state (runs/<id>/state.json and gates/), readmodel\n(the LMDB read model the API polls). These commands work on the local files, with the server running\nor stopped.\n\nExample:\n  $ operator projections status\n  $ operator projections rebuild --all\n  $ operator projections verify',
    )
    .addCommand(projectionsStatusCommand())
    .addCommand(projectionsRebuildCommand())
    .addCommand(projectionsVerifyCommand());
}
