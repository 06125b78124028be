const REDACTED = '[REDACTED]';

/**
 * Query keys whose values are credentials, matched on the decoded key in any case: `access_token`,
 * `ACCESS-TOKEN`, `api_key`, `password`, `secret`, `signature` and the like.
 */
const SECRET_KEY = /token|secret|passw|pwd|auth|key|sig|credential|session/i;

/**
 * A copy of a parsed query (koa's `ctx.query`, so names and values are already percent-decoded) fit for a
 * log line: credential-like keys keep their name and lose their value, long values are cut. Logging the
 * parsed query instead of the raw URL means `?access%5Ftoken=…` is redacted exactly like `?access_token=…`.
 */
export function redactQuery(query: Record<string, unknown>): Record<string, unknown> {
  // Built from entries, so a key such as `__proto__` stays a key of the line, not the copy's prototype.
  return Object.fromEntries(
    Object.entries(query).map(([key, value]) => [
      key,
      SECRET_KEY.test(key)
        ? REDACTED
        : Array.isArray(value)
          ? value.map((v) => clip(String(v)))
          : clip(String(value)),
    ]),
  );
}

const clip = (value: string): string => (value.length > 200 ? `${value.slice(0, 200)}…` : value);

/**
 * Replaces every occurrence of a known secret (and its percent-encoded, base64 and base64url forms) in
 * `text`. The last line of defence: a configured token never reaches a log line, whatever field or message carries it.
 */
export function secretScrubber(secrets: readonly string[]): (text: string) => string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(percentEncodeAll(secret));
    // base64 and base64url (padding dropped: the unpadded text is in the padded one too)
    const bytes = Buffer.from(secret, 'utf8');
    forms.add(bytes.toString('base64').replace(/=+$/, ''));
    forms.add(bytes.toString('base64url'));
  }
  const list = [...forms].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (text) => text;
  const scrub = (text: string): string => {
    let out = text;
    for (const form of list) if (out.includes(form)) out = out.split(form).join(REDACTED);
    return out;
  };
  return (text) => {
    const out = scrub(text);
    // Any other mix of escapes (`%61` for one letter, lower-case hex, encoded twice) decodes to the secret:
    // such a text is logged decoded, with the secret redacted.
    let decoded = out;
    for (let round = 0; round < MAX_DECODES && decoded.includes('%'); round++) {
      const next = percentDecode(decoded);
      if (next === decoded) break;
      decoded = next;
      if (list.some((form) => decoded.includes(form))) return scrub(decoded);
    }
    return out;
  };
}

/** Rounds of percent-decoding a logged text is checked through (a path escaped twice decodes in two). */
const MAX_DECODES = 3;

/** Every run of `%xx` escapes as the UTF-8 text it encodes (invalid bytes as U+FFFD); the rest as it is. */
function percentDecode(text: string): string {
  return text.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) =>
    Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8'),
  );
}

/** `%xx` for every byte: the form a client that encodes everything would send. */
function percentEncodeAll(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');
}
