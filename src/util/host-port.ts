import { isIPv6 } from 'node:net';

/** 'host:port', bracketing IPv6 literals. */
export function hostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
