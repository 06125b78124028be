import { Command } from 'commander';

/** Each top-level command's module, loaded only when that command runs (or for the full help). */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serveCommand.ts')).serveCommand(),
  jobs: async () => (await import('./jobsCommand.ts')).jobsCommand(),
  events: async () => (await import('./eventsCommand.ts')).eventsCommand(),
  projections: async () => (await import('./projectionsCommand.ts')).projectionsCommand(),
  retention: async () => (await import('./retentionCommand.ts')).retentionCommand(),
  store: async () => (await import('./storeCommand.ts')).storeCommand(),
  audit: async () => (await import('./auditCommand.ts')).auditCommand(),
};

/**
 * The `operator` command tree (what `bin/operator.js` runs). Given the arguments, only the command they
 * name is loaded: `operator jobs list` does not load the server's modules.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('operator')
    .description('operator-events: job pipelines recorded as events — serve the API, audit, replay, rebuild')
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failure (server unreachable, token refused, drift found...), 2 bad config or\narguments, 130 interrupted.\n\nExample:\n  $ operator serve\n  $ operator jobs list --status paused\n  $ operator events tail\n  $ operator projections verify',
    );
  const wanted = argv[2];
  const names = wanted !== undefined && Object.hasOwn(COMMANDS, wanted) ? [wanted] : Object.keys(COMMANDS);
  for (const name of names) program.addCommand(await (COMMANDS[name] as () => Promise<Command>)());
  for (const command of program.commands) usageErrorsThrow(command, `operator ${command.name()}`);
  return program.exitOverride();
}

/**
 * Commander's own usage errors (an unknown command or option, a missing or extra argument) throw instead of
 * exiting with 1, so that `reportFailure` gives them exit 2 like every other bad argument; each names the
 * help to read. Subcommands added with `addCommand` do not inherit these settings: every one gets them.
 */
function usageErrorsThrow(command: Command, path: string): void {
  command.exitOverride().showHelpAfterError(`(see ${path} --help)`);
  for (const sub of command.commands) usageErrorsThrow(sub, `${path} ${sub.name()}`);
}
