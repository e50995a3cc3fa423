/**
 * The client side of TLS, shared by every protocol that can run over it
 * (HTTPS and HTTP/2, DNS over TLS): how a user names the CA, skips
 * verification, or sets the SNI name, checked once in the main thread and
 * handed to drivers as plain data that crosses to worker threads.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

/** What a user types: the CLI's --insecure, --ca FILE and --tls-servername NAME. */
export interface TlsUserOptions {
  /** Do not verify the server's certificate (self-signed servers). */
  insecure?: boolean;
  /** A PEM file of CA certificates to verify the server with, instead of Node's bundled roots. */
  ca?: string;
  /** The SNI name and the name the certificate must match; default: the target's host name (none for an IP address). */
  tlsServername?: string;
}

/** The checked form, plain data for worker threads: the CA's PEM text, not its path. */
export interface TlsSettings {
  insecure: boolean;
  ca?: string;
  servername?: string;
}

export function checkTls(options: TlsUserOptions, problems: string[]): TlsSettings {
  const settings: TlsSettings = { insecure: options.insecure ?? false };
  if (options.ca !== undefined) {
    try {
      const pem = readFileSync(options.ca, 'utf8');
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) problems.push(`--ca: ${options.ca} holds no PEM certificate`);
      else settings.ca = pem;
    } catch (error) {
      problems.push(`--ca: cannot read ${options.ca} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
    if (options.insecure) problems.push('--ca: a CA to verify with and --insecure (verify nothing) contradict each other');
  }
  if (options.tlsServername !== undefined) {
    if (isIP(options.tlsServername) !== 0 || !/^[A-Za-z0-9.-]+$/.test(options.tlsServername)) problems.push(`--tls-servername: '${options.tlsServername}' is not a host name`);
    else settings.servername = options.tlsServername;
  }
  return settings;
}

/** node:tls options for a connection to `host`; SNI is sent only for names, as RFC 6066 §3 requires. */
export function tlsConnectOptions(settings: TlsSettings, host: string): ConnectionOptions {
  const servername = settings.servername ?? (isIP(host) === 0 ? host : undefined);
  return {
    rejectUnauthorized: !settings.insecure,
    ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    ...(servername === undefined ? {} : { servername }),
  };
}
