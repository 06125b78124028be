import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CYCLE_PIPELINE_CONFIG } from './cycleJob.ts';

export const BENCH_TOKEN = 'bench-admin-token-0001';
export const AUTH = { authorization: `Bearer ${BENCH_TOKEN}` };

export interface BenchDir {
  dir: string;
  configPath: string;
  dataDir: string;
  runsDir: string;
  logPath: string;
  remove(): Promise<void>;
}

export interface BenchConfigOverrides {
  maxEventsPerJob?: number;
  heartbeatSeconds?: number;
  maxBufferedBytes?: number;
  stuckTimeoutSeconds?: number;
  logLevel?: string;
  /** Extra pipelines (config shape) next to `cycle`. */
  pipelines?: Record<string, unknown>;
}

/**
 * A temp dir with a config file as an operator would write it: loopback on a free port, one admin token,
 * the store and runs under the temp dir, and the `cycle` pipeline (the default).
 */
export async function benchDir(prefix: string, overrides: BenchConfigOverrides = {}): Promise<BenchDir> {
  const dir = await mkdtemp(join(tmpdir(), `operator-${prefix}-`));
  const dataDir = join(dir, 'data');
  const runsDir = join(dir, 'runs');
  const configPath = join(dir, 'operator.yaml');
  const config = {
    server: { port: 0, host: '127.0.0.1', log_level: overrides.logLevel ?? 'info' },
    auth: { tokens: [{ name: 'bench', token: BENCH_TOKEN, role: 'admin' }] },
    storage: {
      data_dir: dataDir,
      runs_dir: runsDir,
      max_events_per_job: overrides.maxEventsPerJob ?? 1_000_000,
    },
    streaming: {
      heartbeat_seconds: overrides.heartbeatSeconds ?? 5,
      // The load clients share one token and hold thousands of streams at once.
      max_streams_per_token: 1_000_000,
      max_streams: 1_000_000,
      ...(overrides.maxBufferedBytes ? { max_buffered_bytes: overrides.maxBufferedBytes } : {}),
      ...(overrides.stuckTimeoutSeconds ? { stuck_timeout_seconds: overrides.stuckTimeoutSeconds } : {}),
    },
    // Jobs are driven by hand through the worker routes, many side by side: no lane waits.
    pipeline: { default: 'cycle', lanes: 1000 },
    pipelines: { cycle: CYCLE_PIPELINE_CONFIG, ...overrides.pipelines },
  };
  await writeFile(configPath, stringify(config));
  return {
    dir,
    configPath,
    dataDir,
    runsDir,
    logPath: join(dir, 'server.log'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
