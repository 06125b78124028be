import { isTargetDeniedError } from './targetGuard.ts';

/** Why an attempt failed, as a closed set a dashboard can count. */
export const ERROR_CLASSES = [
  'target_denied',
  'dns',
  'connection_refused',
  'connection_reset',
  'unreachable',
  'timeout',
  'tls',
  'redirect',
  'http_status',
  'network',
] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

const BY_CODE: Record<string, ErrorClass> = {
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NODATA: 'dns',
  ENODATA: 'dns',
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  ETIMEDOUT: 'timeout',
};

const isTlsCode = (code: string) =>
  /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/.test(code);

/**
 * The class and a short message of a failed request. The message is built from the error code, never from
 * the library's text, which may quote what the target sent (a certificate's names, say).
 */
export function classifyRequestError(error: NodeJS.ErrnoException): {
  error_class: ErrorClass;
  error: string;
} {
  if (isTargetDeniedError(error)) return { error_class: 'target_denied', error: error.message };
  const code = typeof error.code === 'string' ? error.code : 'ERROR';
  const errorClass = BY_CODE[code] ?? (isTlsCode(code) ? 'tls' : 'network');
  return { error_class: errorClass, error: `${errorClass.replace('_', ' ')} (${code})` };
}
