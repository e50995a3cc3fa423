/**
 * RFC 1035 master-file reader. (Implementation in progress: the types below are the contract.)
 */
/**
 * One resource record, in dns-packet's Answer shape so it can be encoded as-is:
 * `name` is absolute without the trailing dot ('www.example.com', the apex is
 * 'example.com'), `type` is dns-packet's type name ('A', 'MX', …, or 'TYPE65280'),
 * `data` is dns-packet's rdata for that type, or a Buffer of raw rdata for types
 * dns-packet cannot encode.
 */
export interface ZoneRecord {
  name: string;
  type: string;
  class: string;
  ttl: number;
  data: unknown;
}

export interface Zone {
  /** Absolute origin without the trailing dot ('example.com'); '' for the root. */
  origin: string;
  /** Every record in file order, $INCLUDEs expanded in place. */
  records: ZoneRecord[];
  /** The file it was read from (for messages), or '<string>'. */
  file: string;
}
