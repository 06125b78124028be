import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { OperatorError } from '../domain/errors.ts';

/**
 * An endpoint secret as the event log keeps it: AES-256-GCM under `webhooks.secret_key`, bound to the
 * endpoint id (additional authenticated data), so a sealed secret copied onto another endpoint does not open.
 */
export interface SealedSecret {
  alg: 'A256GCM';
  /** Which key sealed it: the first 8 bytes of the key's SHA-256, hex (tells a wrong key from a damaged secret). */
  kid: string;
  iv: string;
  tag: string;
  data: string;
}

/** The key cannot open a sealed secret (another key sealed it, or it was altered). */
export class SecretKeyMismatchError extends OperatorError {
  constructor(endpointId: string, kid: string, ours: string) {
    super(
      'webhook_secret_unreadable',
      `the secret of webhook ${endpointId} was sealed with key ${kid}, this process has key ${ours}: give every process the same webhooks.secret_key`,
      'conflict',
    );
  }
}

export const keyId = (key: Buffer): string => createHash('sha256').update(key).digest('hex').slice(0, 16);

export function sealSecret(key: Buffer, endpointId: string, secret: string): SealedSecret {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(endpointId, 'utf8'));
  const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return {
    alg: 'A256GCM',
    kid: keyId(key),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
}

export function openSecret(key: Buffer, endpointId: string, sealed: SealedSecret): string {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(endpointId, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    throw new SecretKeyMismatchError(endpointId, sealed.kid, keyId(key));
  }
}
