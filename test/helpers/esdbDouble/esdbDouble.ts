import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { appendHandler, batchAppendHandler } from './appendService.ts';
import { gossipHandler, supportedMethodsHandler } from './clusterServices.ts';
import { deleteHandler, tombstoneHandler } from './deleteService.ts';
import type { DoubleStoreOptions } from './doubleStore.ts';
import { DoubleStore } from './doubleStore.ts';
import { GossipService, ServerFeaturesService, StreamsService } from './protos.ts';
import { readHandler } from './readService.ts';

export interface EsdbDoubleOptions extends DoubleStoreOptions {
  /** Port to listen on; 0 (default) picks a free one, kept across restarts. */
  port?: number;
}

/**
 * A test-only, in-memory EventStoreDB node: a real gRPC server (insecure, single node) that serves the
 * client package's generated Streams, ServerFeatures and Gossip services, so an adapter runs over the
 * real client library and real HTTP/2. `stop()` drops every call at once, as a crashed node would;
 * the data survives a `restart()` on the same port, as a node's disk would.
 */
export class EsdbDouble {
  readonly store: DoubleStore;
  private readonly host = '127.0.0.1';
  private readonly instanceId = crypto.randomUUID();
  private server: Server | null = null;
  private boundPort: number;

  constructor(options: EsdbDoubleOptions = {}) {
    this.store = new DoubleStore(options);
    this.boundPort = options.port ?? 0;
  }

  get port(): number {
    return this.boundPort;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** What the adapter's configuration would hold for a single insecure node. */
  get connectionString(): string {
    return `esdb://${this.host}:${this.boundPort}?tls=false`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = new Server();
    server.addService(StreamsService, {
      read: readHandler(this.store),
      append: appendHandler(this.store),
      batchAppend: batchAppendHandler(this.store),
      delete: deleteHandler(this.store),
      tombstone: tombstoneHandler(this.store),
    } as UntypedServiceImplementation);
    server.addService(ServerFeaturesService, {
      getSupportedMethods: supportedMethodsHandler(),
    } as UntypedServiceImplementation);
    server.addService(GossipService, {
      read: gossipHandler(
        this.instanceId,
        () => this.host,
        () => this.boundPort,
      ),
    } as UntypedServiceImplementation);
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${this.host}:${this.boundPort}`, ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
    this.server = server;
  }

  /** Kills the node: every open call (appends, reads, subscriptions) fails at once. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    server?.forceShutdown();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

export async function startEsdbDouble(options: EsdbDoubleOptions = {}): Promise<EsdbDouble> {
  const double = new EsdbDouble(options);
  await double.start();
  return double;
}
