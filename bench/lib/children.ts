import type { BenchDir } from './benchConfig.ts';
import { NodeChild } from './nodeChild.ts';

export interface Ready {
  url?: string;
  pid: number;
  nofile: string | null;
}

export interface Started {
  child: NodeChild;
  ready: Ready;
  url: string;
}

async function started(child: NodeChild): Promise<Started> {
  const ready = await child.nextEvent<Ready>('ready', 60_000);
  return { child, ready, url: ready.url ?? '' };
}

/** The operator (startServer with the dir's config file) in a child, `--expose-gc` for RSS readings. */
export function startBenchServer(dir: BenchDir, nodeArgs: readonly string[] = []): Promise<Started> {
  return started(
    new NodeChild('bench/lib/benchServer.ts', {
      nodeArgs: ['--expose-gc', ...nodeArgs],
      args: ['--config', dir.configPath, '--log', dir.logPath],
    }),
  );
}

/** The bare node:http baseline server in a child. */
export function startBareServer(heartbeatMs: number, nodeArgs: readonly string[] = []): Promise<Started> {
  return started(
    new NodeChild('bench/lib/bareServer.ts', {
      nodeArgs: ['--expose-gc', ...nodeArgs],
      args: ['--heartbeat-ms', String(heartbeatMs)],
    }),
  );
}

/** The SSE load client in a child. */
export function startLoadClient(): Promise<Started> {
  return started(new NodeChild('bench/lib/sseLoadClient.ts', { nodeArgs: ['--max-old-space-size=4096'] }));
}
