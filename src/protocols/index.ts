/**
 * The registry: every protocol tsload runs, by name. A new protocol is a
 * folder beside these with one record (see protocol.ts) and one line here.
 */
import { dns } from './dns/index.js';
import { http } from './http/index.js';

export const protocols = { http, dns } as const;

export type ProtocolName = keyof typeof protocols;

export const PROTOCOL_NAMES = Object.keys(protocols) as ProtocolName[];

export function isProtocolName(name: string): name is ProtocolName {
  return Object.hasOwn(protocols, name);
}
