/**
 * The one reader and writer of `host:port` for every command and module:
 * servers to load, addresses to listen on, endpoints a child prints. IPv6
 * literals go in brackets, as in URLs (RFC 3986 §3.2.2), so a port after
 * them is unambiguous.
 */
import { isIP, isIPv6 } from 'node:net';

export interface Endpoint {
  host: string;
  port: number;
}

/**
 * 'host', 'host:port', '[v6]', '[v6]:port', or ':port' when `defaultHost` is
 * given. Without a port, `defaultPort`; a port is required when there is none.
 * undefined when the text is none of these.
 */
export function parseEndpoint(text: string, defaults: { port?: number; host?: string } = {}): Endpoint | undefined {
  const m = /^(?:\[([^\]\s]+)\]|([^:\s[\]]*))(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) return undefined;
  const host = m[1] ?? (m[2] || defaults.host);
  const port = m[3] === undefined ? defaults.port : Number(m[3]);
  if (host === undefined || host === '' || port === undefined || port > 65535) return undefined;
  if (m[1] !== undefined && !isIPv6(m[1])) return undefined;
  return { host, port };
}

/** 'host:port', bracketing IPv6 literals. */
export function formatEndpoint(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Whether a listen address is reachable from this machine alone: 127/8, ::1
 * or IPv4-mapped 127/8, or the name localhost. Anything else, the wildcard
 * addresses and other names included, may be reachable from the network.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) !== 6) return false;
  // The URL parser writes every spelling of an address one way: ::ffff:127.0.0.1 as ::ffff:7f00:1.
  const canonical = new URL(`http://[${h}]/`).hostname.slice(1, -1);
  return canonical === '::1' || /^::ffff:7f[0-9a-f]{2}:/.test(canonical);
}
