/**
 * Request headers whose values never leave the process but on the wire:
 * results, reports and experiment manifests show them as REDACTED. These
 * three always (credentials and sessions by definition), and any other the
 * user names with --secret-header (secretHeaders).
 */
export const SECRET_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie'];
export const REDACTED = '[redacted]';

export function isSecretHeader(name: string, more: readonly string[] = []): boolean {
  const lower = name.trim().toLowerCase();
  return SECRET_HEADERS.includes(lower) || more.some((m) => m.toLowerCase() === lower);
}

/** The headers as a result may record them: secret values replaced, names and order kept. */
export function redactHeaders(headers: readonly (readonly [string, string])[], more: readonly string[] = []): [string, string][] {
  return headers.map(([name, value]) => [name, isSecretHeader(name, more) ? REDACTED : value]);
}

/**
 * The headers option in whichever form it was given ('name: value' strings
 * or a record), secret values replaced; anything else is returned as it is
 * (the checks refuse it).
 */
export function redactHeaderOption(headers: unknown, more: readonly string[] = []): unknown {
  if (Array.isArray(headers)) {
    return headers.map((h: unknown) => {
      if (typeof h !== 'string') return h;
      const colon = h.indexOf(':');
      // No colon, no name to judge by: the whole text may be a credential.
      if (colon <= 0) return REDACTED;
      return isSecretHeader(h.slice(0, colon), more) ? `${h.slice(0, colon)}: ${REDACTED}` : h;
    });
  }
  if (typeof headers === 'object' && headers !== null) {
    return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, isSecretHeader(name, more) ? REDACTED : value]));
  }
  return headers;
}
