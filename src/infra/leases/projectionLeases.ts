import type { Database, RootDatabase } from 'lmdb';
import { lmdbWrite } from '../lmdb/lmdbWrite.ts';
import { LmdbLeases } from './lmdbLeases.ts';

/** The last failure of a projection in the serving process, kept for `operator projections status`. */
export interface ProjectionErrorRecord {
  projection: string;
  last_error: string;
  failures: number;
  at: string;
}

/** Only the holder of this lease writes the live projections (runs/ files, read model, their checkpoints). */
export const WRITER_LEASE = 'writer';
/** Held for the length of a rebuild (or a retention sweep): one such maintenance run at a time. */
export const REBUILD_LEASE = 'rebuild';
/**
 * Held by `operator serve` for as long as it runs: one server per data dir. A second one would run a second
 * pipeline runner over the same runs (ending the first one's stages as orphans at its start).
 */
export const SERVE_LEASE = 'serve';

/**
 * The leases of the read model's LMDB env (`projection_leases`: `WRITER_LEASE`, `REBUILD_LEASE`, `SERVE_LEASE`; see
 * docs/decisions/0007), with the handover a rebuild asks of the writer, and beside them the last error of
 * each projection (`projection_errors`).
 */
export class ProjectionLeases extends LmdbLeases {
  readonly #errors: Database<ProjectionErrorRecord, string>;

  constructor(env: RootDatabase, now: () => number = Date.now) {
    // String-encoded: the records are the JSON text the `json` encoding of earlier versions wrote.
    super(env.openDB<string, string>('projection_leases', { encoding: 'string' }), now);
    this.#errors = env.openDB<ProjectionErrorRecord, string>('projection_errors', { encoding: 'json' });
  }

  recordError(record: ProjectionErrorRecord): Promise<boolean> {
    return lmdbWrite(this.#errors, () => this.#errors.put(record.projection, record));
  }

  clearError(projection: string): Promise<boolean> {
    return lmdbWrite(this.#errors, () => this.#errors.remove(projection));
  }

  lastError(projection: string): ProjectionErrorRecord | undefined {
    return this.#errors.get(projection);
  }
}
