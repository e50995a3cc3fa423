/**
 * Zone records back to master-file text, one line each, that parseZone reads
 * as the same record. Rdata is written in RFC 3597 generic form (`\# len
 * hex`), which every type has and BIND, NSD and Knot all read: a text form
 * per type would be a second encoder to keep in step with the reader.
 */
import { encodeRdata } from '../../../targets/dns.js';
import { typeCode, typeMnemonic } from '../types.js';
import { formatDomainName, type ZoneRecord } from './index.js';

export function formatZoneRecord(record: ZoneRecord): string {
  const code = record.typeCode ?? typeCode(record.type);
  if (code === undefined) throw new Error(`unknown RR type '${record.type}'`);
  const rdata = encodeRdata(record, code);
  return `${formatDomainName(record.name)} ${record.ttl} ${record.class} ${typeMnemonic(code)} \\# ${rdata.length}${rdata.length > 0 ? ` ${rdata.toString('hex')}` : ''}`;
}
