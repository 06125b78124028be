import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type { Projection } from './projection.ts';
import { ReadModelProjection } from './readModelProjection.ts';
import type { ReadModelStore } from './readModelStore.ts';

/** The read model projection of whichever generation is active: after a rebuild's swap it writes the new one. */
export class ActiveGenerationReadModel implements Projection {
  readonly name = 'readmodel';
  #projection: ReadModelProjection;

  constructor(
    private readonly store: ReadModelStore,
    private readonly logger?: Logger,
  ) {
    this.#projection = new ReadModelProjection({ store, logger });
  }

  checkpoint(): Promise<string | null> {
    return this.#current().checkpoint();
  }

  apply(batch: readonly JobEvent[]): Promise<void> {
    return this.#current().apply(batch);
  }

  close(): Promise<void> {
    return this.#projection.close();
  }

  #current(): ReadModelProjection {
    const generation = this.store.generation();
    if (generation !== this.#projection.generation) {
      this.logger?.info({ generation }, 'projections: read model generation switched');
      this.#projection = new ReadModelProjection({ store: this.store, generation, logger: this.logger });
    }
    return this.#projection;
  }
}
