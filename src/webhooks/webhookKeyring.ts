import { readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { OperatorError } from '../domain/errors.ts';
import type { Config } from '../infra/config/configSchema.ts';
import { isUnsafeFileError, PRIVATE_FILE_MODE, readPrivateIfPresent } from '../infra/files/privateFile.ts';
import type { SealedSecret } from './secretBox.ts';
import { keyId, openSecret, sealSecret } from './secretBox.ts';

/** Where an LMDB install keeps the key it generated for itself. */
export const GENERATED_KEY_FILE = 'webhooks.key';

/** Registration through the API on a store shared by several processes, without a key to seal secrets. */
export class WebhookKeyMissingError extends OperatorError {
  constructor() {
    super(
      'webhook_key_missing',
      'webhook endpoints registered through the API keep their secret in the event store, sealed with webhooks.secret_key: set it (or OPERATOR_WEBHOOK_KEY) to base64 of 32 random bytes, the same on every process, or declare the endpoint in webhooks.endpoints',
      'conflict',
    );
  }
}

/**
 * A sealed secret with nothing to open it: an LMDB data dir restored without its generated `webhooks.key`
 * (and no `webhooks.secret_key`). A key generated now would open none of the secrets already sealed, so
 * none is: the file is read again at each use, and a restored copy is picked up without a restart.
 */
export class WebhookKeyFileMissingError extends OperatorError {
  constructor(path: string, kids: readonly string[]) {
    super(
      'webhook_key_missing',
      `webhook secrets in the store are sealed with key ${kids.join(', ')}, and ${path} is missing: restore it from the backup of this data dir (\`operator store backup\` copies it), or set webhooks.secret_key to that key`,
      'conflict',
    );
  }
}

/**
 * The key that seals endpoint secrets in the log: `webhooks.secret_key` (or `OPERATOR_WEBHOOK_KEY`). Without
 * one, an LMDB install generates its own into `<data_dir>/webhooks.key` (0600) on first use and says so: one
 * process owns that store, so the key never has to be shared. On EventStoreDB every process must hold the
 * same key, which only the operator can hand out: there, no key means no API registration. A key is
 * generated only to seal, and only while no secret in the store is sealed already (`sealedKids`): a data
 * dir restored without its key file must get that file back, not a key that opens nothing.
 */
export class WebhookKeyring {
  #key: Buffer | null | undefined;

  constructor(
    private readonly config: Config,
    private readonly logger?: Logger,
    /** The key ids of the secrets sealed in the store's registry. */
    private readonly sealedKids: () => readonly string[] = () => [],
  ) {}

  /**
   * The key, loaded (or generated) on first use; null when there is none to use: none configured on
   * EventStoreDB, or on LMDB a key file missing while secrets in the store are sealed.
   */
  key(): Buffer | null {
    return this.#existing() ?? this.#generate();
  }

  seal(endpointId: string, secret: string): SealedSecret {
    const key = this.key();
    if (!key) throw this.#missing();
    return sealSecret(key, endpointId, secret);
  }

  open(endpointId: string, sealed: SealedSecret): string {
    const key = this.#existing();
    if (!key) throw this.#missing();
    return openSecret(key, endpointId, sealed);
  }

  /** The configured key, or the key file's; a missing file is looked for again at the next call. */
  #existing(): Buffer | null {
    if (this.#key) return this.#key;
    const configured = this.config.webhooks.secret_key;
    if (configured !== undefined) this.#key = Buffer.from(configured, 'base64');
    else if (this.config.store.kind === 'lmdb') this.#key = readKeyFile(this.#path());
    return this.#key ?? null;
  }

  /** Why there is no key: none configured (EventStoreDB), or the key file of sealed secrets is gone. */
  #missing(): OperatorError {
    const sealed = this.config.store.kind === 'lmdb' ? this.#sealed() : [];
    return sealed.length > 0
      ? new WebhookKeyFileMissingError(this.#path(), sealed)
      : new WebhookKeyMissingError();
  }

  #sealed(): string[] {
    return [...new Set(this.sealedKids())];
  }

  /** A new key file, when this is an LMDB install and no secret in its store is sealed yet. */
  #generate(): Buffer | null {
    if (this.config.store.kind !== 'lmdb' || this.#sealed().length > 0) return null;
    const path = this.#path();
    const key = randomKey();
    try {
      writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      // Another process on this data dir wrote it first: use theirs.
      const raced = (error as NodeJS.ErrnoException).code === 'EEXIST' ? readKeyFile(path) : null;
      if (!raced) throw error;
      this.#key = raced;
      return raced;
    }
    this.logger?.warn(
      { path, kid: keyId(key) },
      'webhooks: no webhooks.secret_key: generated one (mode 0600) to seal endpoint secrets in the log; back it up with the store, or set webhooks.secret_key',
    );
    this.#key = key;
    return key;
  }

  #path(): string {
    return join(this.config.storage.data_dir, GENERATED_KEY_FILE);
  }
}

/**
 * Copies the generated key into `targetDir` (a new file, 0600) beside a backup of the store, whose sealed
 * endpoint secrets open with this key only: a server on a restored data dir without it would generate
 * another, and every endpoint registered through the API would fail to sign. Returns the copy's path, null
 * when the data dir has no generated key. Taken after the store's snapshot: the key file is written before
 * the first secret is sealed, so a snapshot holding a sealed secret always finds its key.
 */
export async function copyGeneratedKey(dataDir: string, targetDir: string): Promise<string | null> {
  const source = join(dataDir, GENERATED_KEY_FILE);
  const bytes = await readPrivateIfPresent(source);
  if (bytes === null) return null;
  if (isUnsafeFileError(bytes)) throw bytes;
  parseKey(bytes.toString('utf8'), source);
  const copy = join(targetDir, GENERATED_KEY_FILE);
  await writeFile(copy, bytes, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  return copy;
}

function randomKey(): Buffer {
  return crypto.getRandomValues(Buffer.alloc(32));
}

function readKeyFile(path: string): Buffer | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return parseKey(text, path);
}

function parseKey(text: string, path: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) throw new Error(`${path} does not hold base64 of 32 bytes`);
  return key;
}
