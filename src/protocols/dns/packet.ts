/**
 * dns-packet, required on first use: it is slow to load, and only a zone with
 * `\#` rdata or the built-in DNS server needs it, while every import of the
 * library loads the modules that use it. require, not import(), because its
 * callers are synchronous (it is CommonJS, so both give the same module).
 */
import { createRequire } from 'node:module';
import type * as DnsPacket from 'dns-packet';

let loaded: typeof DnsPacket | undefined;

export function dnsPacket(): typeof DnsPacket {
  return (loaded ??= createRequire(import.meta.url)('dns-packet') as typeof DnsPacket);
}
