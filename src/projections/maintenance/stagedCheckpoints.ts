import type { Database } from 'lmdb';

/**
 * The checkpoints of a rebuild's aside file projections, in memory: nobody resumes from them (an interrupted
 * rebuild starts again from an empty location), and the swap writes them as the live checkpoints in the
 * transaction that publishes the files. Not writing them per batch keeps the rebuild's thread off LMDB's
 * write lock, which the read model thread holds for most of the rebuild.
 */
export class StagedCheckpoints {
  readonly #positions = new Map<string, string>();

  /** The live checkpoints' database, unused here: the shape the file projections expect. */
  constructor(readonly db: Database<string, string>) {}

  get(name: string): string | null {
    return this.#positions.get(name) ?? null;
  }

  async set(name: string, position: string): Promise<void> {
    this.#positions.set(name, position);
  }

  async clear(name: string): Promise<void> {
    this.#positions.delete(name);
  }
}
