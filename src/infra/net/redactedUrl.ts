/**
 * A URL as it may appear in a log line or an error message: scheme, host and port only. Credentials
 * (`user:pass@`), the query (`?token=`) and the path are left out: webhook providers often put the
 * secret in the path (`/services/T0/B0/<secret>`). `…` marks that something was left out.
 */
export function redactedUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return '(not a URL)';
  }
  const more = parsed.pathname !== '/' || parsed.search !== '' || parsed.hash !== '';
  return `${parsed.protocol}//${parsed.host}${more ? '/…' : '/'}`;
}
