/** Every output format, for the CLI to load in one import. */
export { formatText } from './text.js';
export { formatHttperf } from './httperf.js';
export { formatDnsperf } from './dnsperf.js';
export { formatCsv, formatCsvMany } from './csv.js';
export { formatJson } from './json.js';
export { writeReportFor } from './html.js';
