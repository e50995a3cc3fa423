/**
 * DNS RCODE mnemonics (RFC 6895 §2.3, with the extended ones from OPT): the
 * one table, kept here rather than in protocols/dns/ because the reports,
 * which may not import protocols, order results by it.
 */
const RCODE_NAMES: readonly string[] = [
  'NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET',
  'NOTAUTH', 'NOTZONE', 'DSOTYPENI', '', '', '', '', 'BADVERS', 'BADKEY', 'BADTIME', 'BADMODE', 'BADNAME',
  'BADALG', 'BADTRUNC', 'BADCOOKIE',
];

/** IANA RCODE mnemonic, `RCODE<n>` for unassigned values. */
export function rcodeName(code: number): string {
  return RCODE_NAMES[code] || `RCODE${code}`;
}

/** The number of an RCODE name (a mnemonic, `RCODE<n>`, or dns-packet's `RCODE_<n>`); undefined if it is none. */
export function rcodeNumber(name: string): number | undefined {
  const known = RCODE_NAMES.indexOf(name);
  if (known >= 0 && name !== '') return known;
  const m = /^RCODE_?(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}
