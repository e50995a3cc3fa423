/**
 * The DNS vocabulary of numbers and mnemonics: RR types, classes and RCODEs,
 * each in one table that the zone reader, query files, the load driver and
 * the built-in server share.
 *
 * A record's `type` string is dns-packet's name when dns-packet knows the
 * number, otherwise 'TYPEnnn' (also for mnemonics dns-packet lacks, e.g.
 * HTTPS is 'TYPE65'): dns-packet encodes a name it does not know as type 0,
 * so whatever is handed to it must be in its spelling (`packetTypeName`).
 */
import { rcodeName } from '../../util/rcodes.js';

export interface TypeInfo {
  /** The spelling accepted in files (dns-packet's name or an IANA mnemonic). */
  mnemonic: string;
  code: number;
  /** What goes into ZoneRecord.type / Query.type. */
  recordType: string;
  /** dns-packet has an rdata codec for it (data is an object, not a Buffer). */
  codec: boolean;
}

/** Types dns-packet names (dns-packet/types.js); `true` where it also has an rdata codec (index.js `record()`). */
const PACKET_TYPES: ReadonlyArray<readonly [string, number, boolean]> = [
  ['A', 1, true], ['NS', 2, true], ['CNAME', 5, true], ['SOA', 6, true], ['NULL', 10, true],
  ['PTR', 12, true], ['HINFO', 13, true], ['MX', 15, true], ['TXT', 16, true], ['RP', 17, true],
  ['AFSDB', 18, false], ['SIG', 24, false], ['KEY', 25, false], ['AAAA', 28, true], ['LOC', 29, false],
  ['SRV', 33, true], ['NAPTR', 35, true], ['KX', 36, false], ['CERT', 37, false], ['DNAME', 39, true],
  ['OPT', 41, false], ['APL', 42, false], ['DS', 43, true], ['SSHFP', 44, true], ['IPSECKEY', 45, false],
  ['RRSIG', 46, true], ['NSEC', 47, true], ['DNSKEY', 48, true], ['DHCID', 49, false], ['NSEC3', 50, true],
  ['NSEC3PARAM', 51, false], ['TLSA', 52, true], ['HIP', 55, false], ['CDS', 59, false], ['CDNSKEY', 60, false],
  ['SPF', 99, false], ['TKEY', 249, false], ['TSIG', 250, false], ['IXFR', 251, false], ['AXFR', 252, false],
  ['ANY', 255, false], ['CAA', 257, true], ['TA', 32768, false], ['DLV', 32769, false],
];

/** IANA mnemonics dns-packet does not know (as BIND 9.18 spells them); records of these types get type 'TYPEnnn'. */
const EXTRA_TYPES: ReadonlyArray<readonly [string, number]> = [
  ['MD', 3], ['MF', 4], ['MB', 7], ['MG', 8], ['MR', 9], ['WKS', 11], ['MINFO', 14], ['X25', 19],
  ['ISDN', 20], ['RT', 21], ['NSAP', 22], ['NSAP-PTR', 23], ['PX', 26], ['GPOS', 27], ['NXT', 30],
  ['EID', 31], ['NIMLOC', 32], ['ATMA', 34], ['A6', 38], ['SINK', 40],
  ['SMIMEA', 53], ['NINFO', 56], ['RKEY', 57], ['TALINK', 58], ['OPENPGPKEY', 61], ['CSYNC', 62],
  ['ZONEMD', 63], ['SVCB', 64], ['HTTPS', 65], ['UINFO', 100], ['UID', 101], ['GID', 102], ['UNSPEC', 103],
  ['NID', 104], ['L32', 105], ['L64', 106], ['LP', 107], ['EUI48', 108], ['EUI64', 109],
  ['MAILB', 253], ['MAILA', 254], ['URI', 256], ['AVC', 258], ['DOA', 259], ['AMTRELAY', 260],
];

const PACKET_NAMES = new Set(PACKET_TYPES.map(([name]) => name));
const TYPE_BY_NAME = new Map<string, TypeInfo>();
const TYPE_BY_CODE = new Map<number, TypeInfo>();
for (const [mnemonic, code, codec] of PACKET_TYPES) {
  const info = { mnemonic, code, recordType: mnemonic, codec };
  TYPE_BY_NAME.set(mnemonic, info);
  TYPE_BY_CODE.set(code, info);
}
for (const [mnemonic, code] of EXTRA_TYPES) {
  const info = { mnemonic, code, recordType: `TYPE${code}`, codec: false };
  TYPE_BY_NAME.set(mnemonic, info);
  TYPE_BY_CODE.set(code, info);
}

export function typeByCode(code: number): TypeInfo {
  return TYPE_BY_CODE.get(code) ?? { mnemonic: `TYPE${code}`, code, recordType: `TYPE${code}`, codec: false };
}

/** A type as written in a file ('mx', 'TYPE15', 'HTTPS', 'nsap-ptr') → its info, or undefined if unknown. */
export function lookupType(text: string): TypeInfo | undefined {
  const upper = text.toUpperCase();
  const known = TYPE_BY_NAME.get(upper);
  if (known) return known;
  const m = /^TYPE(\d{1,5})$/.exec(upper);
  if (!m) return undefined;
  const code = Number(m[1]);
  return code <= 0xffff ? typeByCode(code) : undefined;
}

/**
 * Parse a type as written in a zone or query file (any case, mnemonic or
 * TYPEnnn) → the record type string ('A', 'TYPE65', …) and its number.
 */
export function parseTypeName(text: string): { type: string; code: number } | undefined {
  const info = lookupType(text);
  return info ? { type: info.recordType, code: info.code } : undefined;
}

/** The number of a type ('A' → 1, 'TYPE65' → 65, 'https' → 65); undefined if not a type. */
export function typeCode(type: string): number | undefined {
  return lookupType(type)?.code;
}

/** The mnemonic to show for a number ('HTTPS' for 65, 'TYPE65280' where there is none). */
export function typeMnemonic(code: number): string {
  return typeByCode(code).mnemonic;
}

/** A record type in the spelling dns-packet encodes correctly: 'TYPE65' → 'UNKNOWN_65'. */
export function packetTypeName(type: string): string {
  const info = lookupType(type);
  return info ? rdataTypeName(info) : type;
}

/** dns-packet's spelling of a type (it encodes names it does not know as type 0). */
export function rdataTypeName(info: TypeInfo): string {
  return PACKET_NAMES.has(info.recordType) ? info.recordType : `UNKNOWN_${info.code}`;
}

/** Types that only exist in queries or messages, never in zone data (OPT, TKEY, TSIG, IXFR, AXFR, ANY, …). */
export function isMetaType(code: number): boolean {
  return code === 0 || code === 41 || (code >= 128 && code <= 255);
}

// ---------------------------------------------------------------------------
// Classes

/** The data classes dns-packet encodes, by number - 1; also accepted as CLASS1..CLASS4 (RFC 3597). */
const CLASS_NAMES = ['IN', 'CS', 'CH', 'HS'];

/** 'in', 'CLASS1' → 'IN'; 'CLASS9' → null (a class, but not one dns-packet encodes); not a class → undefined. */
export function parseClass(text: string): string | null | undefined {
  const upper = text.toUpperCase();
  if (CLASS_NAMES.includes(upper)) return upper;
  const m = /^CLASS(\d{1,5})$/.exec(upper);
  if (!m || Number(m[1]) > 0xffff) return undefined;
  return CLASS_NAMES[Number(m[1]) - 1] ?? null;
}

/** Class mnemonic (ANY included, for queries) or `CLASSnnn` → number; undefined if not a class. */
export function classCode(text: string): number | undefined {
  if (text.toUpperCase() === 'ANY') return 255;
  const name = parseClass(text);
  if (name) return CLASS_NAMES.indexOf(name) + 1;
  return name === null ? Number(/\d+/.exec(text)![0]) : undefined;
}

// ---------------------------------------------------------------------------
// RCODEs (the name table is in util/rcodes.ts, where the reports can read it)

export { rcodeName, rcodeNumber } from '../../util/rcodes.js';

export const NOERROR = 0;
export const FORMERR = 1;
export const SERVFAIL = 2;
export const NXDOMAIN = 3;
export const NOTIMP = 4;
export const REFUSED = 5;

/** The names of RCODEs 0..15 (what a header's 4 bits can say), for code that cannot import this module (the testbed's probe script). */
export function headerRcodeNames(): string[] {
  return Array.from({ length: 16 }, (_, i) => rcodeName(i));
}
