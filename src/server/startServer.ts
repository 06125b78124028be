import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ApiDeps } from '../api/apiDeps.ts';
import { createRequestListener } from '../api/app.ts';
import { answerClientErrors } from '../api/clientErrors.ts';
import { Metrics } from '../api/metrics.ts';
import { auditRoutes } from '../api/routes/auditRoutes.ts';
import { searchRoutes } from '../api/routes/searchRoutes.ts';
import { webhookRoutes } from '../api/routes/webhookRoutes.ts';
import { LiveTail } from '../api/sse/liveTail.ts';
import { SseHub } from '../api/sse/sseHub.ts';
import { registerStateGauges } from '../api/stateGauges.ts';
import { OperatorError } from '../domain/errors.ts';
import type { Config } from '../infra/config/configSchema.ts';
import { pipelineDefinition, usesDefaultToken } from '../infra/config/loadConfig.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { JobCommandHandler } from '../infra/eventstore/jobCommandHandler.ts';
import { logStoredEvent } from '../infra/logging/logger.ts';
import { createProjections, EventSearch } from '../projections/index.ts';
import { JobGaugeFacts } from '../projections/jobGaugeFacts.ts';
import { scheduleRetentionSweep } from '../retention/retentionSweep.ts';
import type { RunnerClock } from '../runner/index.ts';
import { PipelineRunner, QueueView, systemClock } from '../runner/index.ts';
import { WebhookService } from '../webhooks/index.ts';
import { DataDirLease } from './dataDirLease.ts';
import { leaderDuties } from './leaderDuties.ts';
import { openStore } from './openStore.ts';
import { StoreLeaseRole } from './storeLeaseRole.ts';

export interface RunningServer {
  url: string;
  port: number;
  deps: ApiDeps;
  /**
   * The pipeline runner, or null when started with `runner: false`. With EventStoreDB: the one running
   * while this process holds the single-runner lease, null while it does not.
   */
  readonly runner: PipelineRunner | null;
  /**
   * Stops accepting, ends SSE streams, stops the runner (its stage processes are ended), stops the
   * projections, flushes and closes the store.
   */
  close(): Promise<void>;
}

export interface StartServerOptions {
  config: Config;
  logger: Logger;
  store?: EventStore;
  clock?: () => Date;
  /** Run the pipeline runner (stage commands, lanes, gate timers). Default true. */
  runner?: boolean;
  /** The runner's time and timers; when given without `clock`, the API stamps commands with it too. */
  runnerClock?: RunnerClock;
  /**
   * Called when the server stops by itself because another process took its data dir lease over (this one
   * stalled past `store.lease_ttl`); `close()` has begun. `operator serve` then exits 1, not 0.
   */
  onDataDirLost?(): void;
}

/**
 * The composition root of `operator serve`: store, projections, runner, live tail, API, HTTP server.
 *
 * With EventStoreDB several processes may serve one store (decision 0004): every one serves the API and
 * runs its projections and retention sweep on its own data and runs dirs, while the pipeline runner and
 * the webhook sender run only in the process holding the store lease, started when it takes the lease and
 * stopped when it loses it. With LMDB one process owns the files and runs everything.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { config, logger } = options;
  const runnerClock = options.runnerClock ?? systemClock(options.clock);
  const clock = options.clock ?? (() => runnerClock.now());
  if (usesDefaultToken(config)) {
    logger.warn(
      `the seed admin token is in use (accepted on the loopback bind ${config.server.host} only): set OPERATOR_ADMIN_TOKEN or auth.tokens`,
    );
  }
  const store = options.store ?? (await openStore(config));
  const metrics = new Metrics();
  // Projections run while this process holds the writer lease (a rebuild borrows it for its swap).
  const projections = createProjections({
    store,
    dataDir: config.storage.data_dir,
    runsDir: config.storage.runs_dir,
    logger,
  });
  let dataDirLease: DataDirLease;
  try {
    dataDirLease = DataDirLease.take({
      readModelStore: projections.readModelStore,
      dataDir: config.storage.data_dir,
      ttlMs: config.store.lease_ttl,
      logger,
      onLost: () => {
        options.onDataDirLost?.();
        void close();
      },
    });
  } catch (error) {
    await projections.close();
    if (!options.store) await store.close();
    throw error;
  }
  projections.start();
  const retention = scheduleRetentionSweep({
    config,
    store,
    readModelStore: projections.readModelStore,
    logger,
    registry: metrics.registry,
    clock,
  });
  const tail = new LiveTail(store, { logger });
  tail.start();
  const hub = new SseHub({
    heartbeatSeconds: config.streaming.heartbeat_seconds,
    stuckTimeoutSeconds: config.streaming.stuck_timeout_seconds,
    maxBufferedBytes: config.streaming.max_buffered_bytes,
    onOpen: () => metrics.sseConnections.inc(),
    onFramesSent: (frames) => metrics.sseFramesSent.inc(frames),
    onClose: (session) => {
      metrics.sseConnections.dec();
      if (session.closeReason?.startsWith('client stopped reading')) {
        metrics.sseCutOff.inc();
        logger.warn({ reason: session.closeReason }, 'SSE client cut off');
      }
    },
  });
  const commands = new JobCommandHandler(store, {
    maxEventsPerJob: config.storage.max_events_per_job,
    onAppended: (event, state) => {
      logStoredEvent(logger, event);
      metrics.observeAppended(event, state);
    },
    onAppendTimed: (seconds) => metrics.appendDuration.observe(seconds),
  });
  const leased = config.store.kind === 'eventstoredb';
  const newRunner = () =>
    new PipelineRunner({ store, commands, config, logger, clock: runnerClock, env: process.env });
  let runner = options.runner === false || leased ? null : newRunner();
  // With several processes, queue position and lane come from the log in each (the same answer on all).
  const queueView = leased
    ? new QueueView({
        store,
        lanes: config.pipeline.lanes,
        gateHoldsLane: config.pipeline.gate_holds_lane,
        load: (jobId) => commands.load(jobId),
        logger,
      })
    : null;
  queueView?.start();
  let role: StoreLeaseRole | null = null;
  let shuttingDown = false;
  const shutdown = new AbortController();
  const deps: ApiDeps = {
    config,
    logger,
    store,
    commands,
    readModel: projections.readModel,
    projections: projections.port,
    tail,
    hub,
    metrics,
    pipeline: (name) => pipelineDefinition(config, name),
    ...(runner ? { queue: runner } : {}),
    ...(queueView ? { queue: queueView } : {}),
    ...(leased ? { leaseRole: () => role?.role ?? 'standby' } : {}),
    clock,
    isShuttingDown: () => shuttingDown,
    shutdown: shutdown.signal,
  };
  const search = new EventSearch(projections.readModelStore);
  const webhooks = new WebhookService({ config, store, logger, registry: metrics.registry });
  const jobFacts = new JobGaugeFacts(projections.readModelStore);
  registerStateGauges(metrics, {
    countsByStatus: () => jobFacts.countsByStatus(),
    pausedGates: () => jobFacts.pausedGates(),
    webhookEndpoints: () => webhooks.store.listEndpoints(),
    store,
    checkpoint: () => projections.port.checkpoint(),
    now: () => clock().getTime(),
  });
  const listener = createRequestListener(deps, (d) => [
    ...searchRoutes(search),
    ...auditRoutes(d, search),
    ...webhookRoutes(webhooks.endpoints),
  ]);
  const server: Server = createServer(listener);
  server.keepAliveTimeout = 5000;
  answerClientErrors(server, logger);
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      shuttingDown = true;
      shutdown.abort();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      hub.closeAll();
      server.closeIdleConnections();
      if (role) await role.stop();
      else await runner?.stop();
      await tail.stop();
      await queueView?.stop();
      await webhooks.close();
      await retention.stop();
      await projections.runner.stop();
      setTimeout(() => server.closeAllConnections(), 2000).unref();
      await stopped;
      dataDirLease.release();
      await projections.close();
      await store.close();
      logger.info('operator stopped');
    })();
    return closing;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.server.port, config.server.host, () => resolve());
    });
  } catch (error) {
    // What started before (projections, the tail, the store) stops, so the process can end.
    await close();
    throw listenError(error, config.server);
  }
  const port = (server.address() as AddressInfo).port;
  if (leased) {
    role = new StoreLeaseRole({
      store,
      ttlMs: config.store.lease_ttl,
      duties: leaderDuties({
        config,
        port,
        webhooks,
        newRunner: options.runner === false ? null : newRunner,
        onRunner: (current) => {
          runner = current;
        },
      }),
      logger,
      registry: metrics.registry,
      onLeaseChange: (change) => metrics.leaseChanges.inc({ change }),
    });
    // A holder that cannot renew steps down a renewal interval before anyone may take over; its stages get
    // SIGTERM then, and SIGKILL only after the grace.
    const renewEvery = Math.floor(config.store.lease_ttl / 3);
    if (config.pipeline.stage_kill_grace > renewEvery)
      logger.warn(
        { stage_kill_grace_ms: config.pipeline.stage_kill_grace, lease_renew_ms: renewEvery },
        'pipeline.stage_kill_grace is longer than a third of store.lease_ttl: a stage that ignores SIGTERM may still run after another process took the lease over',
      );
    // Every process follows the webhook registry and outbox; the leader duty makes this one send.
    await webhooks.start(port);
    // Started once the port is ours: a second server that fails to bind must not run stages too.
    role.start();
  } else {
    runner?.start();
    // Webhook URLs may not target this port, so it is known before anything is sent.
    await webhooks.start(port);
    webhooks.lead();
  }
  const host = config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ port, store: config.store.kind }, `operator listening on ${url}`);

  return {
    url,
    port,
    deps,
    get runner() {
      return runner;
    },
    close,
  };
}

/** A port in use or refused is the operator's to fix: one line that says which, not a stack trace. */
function listenError(error: unknown, server: { host: string; port: number }): unknown {
  const where = `${server.host}:${server.port}`;
  const reasons: Record<string, [code: string, why: string]> = {
    EADDRINUSE: ['port_in_use', 'another process holds the port (set server.port, OPERATOR_PORT or --port)'],
    EACCES: ['port_not_allowed', 'this user may not bind it (ports below 1024 need privileges)'],
    EADDRNOTAVAIL: ['address_not_available', 'no interface of this machine has that address (server.host)'],
  };
  const reason = reasons[(error as NodeJS.ErrnoException).code ?? ''];
  if (!reason) return error;
  return new OperatorError(reason[0], `cannot listen on ${where}: ${reason[1]}`, 'unavailable', undefined, {
    cause: error,
  });
}
