import { Command } from 'commander';
import { isOperatorError } from '../domain/errors.ts';
import { loadConfig } from '../infra/config/loadConfig.ts';
import { consoleDestination } from '../infra/logging/consoleDestination.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { setLongTimeout } from '../infra/longTimeout.ts';
import { startServer } from '../server/startServer.ts';
import { guardUnhandledRejections } from '../server/unhandledRejections.ts';
import { usageError } from './cliError.ts';

/** `--port`: a TCP port number, kept as the text the config's `OPERATOR_PORT` takes. */
function portOption(value: string): string {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65_535)
    throw usageError(`--port must be a port number (0-65535), got "${value}"`);
  return value;
}

/** `operator serve`: what `npm start` runs. SIGTERM / SIGINT shut down cleanly and exit 0. */
export function serveCommand(): Command {
  return new Command('serve')
    .description('serve the HTTP API (port 8008 by default) with the embedded store, projections and runner')
    .option('-c, --config <path>', 'config file (default conf/operator.yaml, or $OPERATOR_CONFIG)')
    .option('-p, --port <port>', 'port to listen on (overrides server.port and $OPERATOR_PORT)', portOption)
    .addHelpText(
      'after',
      '\nExample:\n  $ operator serve --port 8008\n  $ OPERATOR_DATA_DIR=/var/lib/operator operator serve',
    )
    .action(async (opts: { config?: string; port?: string }) => {
      let config: ReturnType<typeof loadConfig>;
      try {
        const env = opts.port ? { ...process.env, OPERATOR_PORT: opts.port } : process.env;
        config = loadConfig({ path: opts.config, env });
      } catch (error) {
        process.stderr.write(`operator: ${isOperatorError(error) ? error.message : String(error)}\n`);
        process.exit(2);
      }
      const logger = createLogger({
        level: config.server.log_level,
        destination: consoleDestination(config.server.log_format).destination,
        secrets: [
          ...config.auth.tokens.map((t) => t.token),
          ...(config.webhooks.secret_key ? [config.webhooks.secret_key] : []),
        ],
      });
      // Owner-only files for everything the server creates (store, read model, run dirs, stage logs), and
      // for what its stage commands create, whatever the login shell's umask was.
      process.umask(0o077);
      // A full disk must not end the server: lmdb-js leaves a rejection of its own unhandled per failed commit.
      guardUnhandledRejections(logger);
      // Heard from the start: a signal while the server starts (its 'listening' line is already out, so a
      // supervisor may send one) stops it once started, instead of killing it half-way.
      let stopAsked: string | null = null;
      let shutdown = (signal: string) => {
        stopAsked ??= signal;
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      const server = await startServer({
        config,
        logger,
        // Stopped by itself, not asked to: a failure for a supervisor (systemd's Restart=on-failure).
        onDataDirLost: () => {
          process.exitCode = 1;
        },
      });
      shutdown = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        // Long enough for the stages' kill grace (SIGTERM, then SIGKILL) and the rest of the stop.
        setLongTimeout(
          () => {
            logger.error('shutdown took too long; exiting');
            process.exit(1);
          },
          Math.max(8000, config.pipeline.stage_kill_grace + 5000),
          { unref: true },
        );
        server.close().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      if (stopAsked) shutdown(stopAsked);
    });
}
