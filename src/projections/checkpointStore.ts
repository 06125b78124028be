import type { Database } from 'lmdb';
import { lmdbWrite } from '../infra/lmdb/lmdbWrite.ts';

/** Named checkpoints (a position per projection) in an LMDB database. */
export class CheckpointStore {
  constructor(readonly db: Database<string, string>) {}

  get(name: string): string | null {
    return this.db.get(name) ?? null;
  }

  /** Resolves once committed. */
  async set(name: string, position: string): Promise<void> {
    await lmdbWrite(this.db, () => this.db.put(name, position));
  }

  async clear(name: string): Promise<void> {
    await lmdbWrite(this.db, () => this.db.remove(name));
  }
}
