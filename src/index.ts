/**
 * tsload's public API. Everything a benchmark can import is listed here by
 * name; types are listed separately below.
 */

// Load runs: options in, result (the same object `--json` writes) out.
export { runHttp, runDns, runLoad, runProtocol, dnsQueries, defaultMaxConnections, VERSION } from './run.js';
// Where results go, as the CLI sends them: stdout formats and files.
export { writeOutputs, checkOutputs, formatsOf } from './outputs.js';
// The protocols tsload runs, each one record (src/protocols/protocol.ts).
export { protocols, PROTOCOL_NAMES } from './protocols/index.js';

// Option parsing, as the CLI does it.
export { parseRates, parseDuration, DEFAULT_RATE, MIN_RATE, MAX_RATE } from './options.js';

// DNS inputs: zone files, query files, query mixes; and the DNS vocabulary they and the server share.
export { parseZone, loadZone, parseDomainName, formatDomainName } from './protocols/dns/zone/index.js';
export { parseTypeName, typeCode, typeMnemonic, classCode, rcodeName } from './protocols/dns/types.js';
export { nameToWire, wireToName, readMessage, MessageWriter } from './protocols/dns/wire.js';
export { parseQueryFile, loadQueryFile, buildQueryMix, formatQueryFile } from './protocols/dns/queries.js';

// Built-in targets.
export { startHttpTarget } from './targets/http.js';
export { startDnsTarget } from './targets/dns.js';
export { spawnTarget } from './targets/child.js';

// The two-host testbed (root only).
export { testbed } from './testbed/index.js';
export { runInTestbed } from './testbed/run.js';
// Experiments: a plan of targets × workloads × repeats run in the testbed into a results folder.
export { loadPlan, parsePlan, runExperiment, planCells, MANIFEST_SCHEMA } from './experiment/index.js';
export type { RunningTarget, VmOptions } from './testbed/index.js';
// The server's side of a testbed run (StepBase.server, Saturation.resource) and its constraints.
export type { TestbedRunOptions } from './testbed/run.js';
export type { CgroupLimits, TargetCgroup } from './testbed/cgroups.js';
export type { ServerFigures, LinkDirection, SaturatedResource } from './result.js';
export { describeResource, saturatedResource } from './measure/saturation.js';

// host:port, read and written one way everywhere.
export { parseEndpoint, formatEndpoint } from './util/endpoint.js';

// Measurement: HDR histograms as they travel between threads and machines.
export { mergeEncoded, decodeHistogram, encodeHistogram, statsOf } from './measure/histogram.js';
export { findSaturation, describeSaturation, DEFAULT_SATURATION_CRITERIA, GENERATOR_BUSY_LIMIT, generatorAtLimit } from './measure/saturation.js';
export { generatorLimits } from './measure/limits.js';

// Reports: pure functions from results to text, and the HTML/SVG/CSV writer.
export { formatText, formatHttperf, formatDnsperf, formatCsv, formatCsvMany, formatJson } from './report/index.js';
export { renderReport, writeReport, writeReportFor, loadResults } from './report/html.js';
export { createProgress } from './report/progress.js';
// Experiments: a results folder read, summarized across repeats, and reported.
export { readExperiment, isResultsFolder } from './experiment/read.js';
export { summarize, SUMMARY_SCHEMA } from './experiment/summary.js';
export { writeExperimentReport } from './experiment/report.js';
export { formatExperimentText, formatExperimentJson, formatExperimentCsv, renderExperimentHtml, experimentCharts } from './report/experiment.js';
export { median, medianInterval, orderStatisticConfidence, bootstrapMedianRatio } from './measure/statistics.js';
export { describeLimit } from './report/blocks.js';

// Errors: one class per failure, each with a stable `code` and exit status.
export {
  TsloadError,
  OptionsError,
  InputFileError,
  TargetUnreachableError,
  EnvironmentError,
  ServerStartError,
  MergeError,
  PlanMismatchError,
  ExitCode,
  exitCodeOf,
} from './errors.js';

// The driver contract: outcome codes and their classification.
export { Failure } from './engine/driver.js';
// A driver's share of the work (DriverContext.share) and how to walk it.
export { Share, ShareWalk, Segment, parseSegment, parseSequence } from './engine/segment.js';
export type { Ratio, SegmentSpec } from './engine/segment.js';
// Distributed runs: which segment a launcher's variables give, when to start, and one result from many.
export { resolveSegment, segmentFromEnv, segmentFromOption, describeSegment, KUBERNETES_COUNT_VARIABLE } from './engine/launcher.js';
export type { SegmentInfo, SegmentSource, ResolvedSegment } from './engine/launcher.js';
export { parseStartAt, slotMs, CLOCK_SOURCE } from './engine/start.js';
export { mergeResults, mergeProblems, DEFAULT_MAX_SKEW_MS } from './result/merge.js';
export type { MergeOptions } from './result/merge.js';
export type { DistributedOptions } from './distributed.js';
// HdrHistogram's own formats: the interval log (--hlog) and wrk2's percentile spectrum (--hgrm).
export { formatHlog, formatHgrm, writeHgrm } from './report/hlog.js';
export { failureOf } from './protocols/http/failures.js';
export { socketFailure } from './protocols/failures.js';
export { RESULT_SCHEMA } from './result.js';

export type { HttpOptions, DnsOptions, OptionsOf } from './run.js';
export type { Outputs } from './outputs.js';
export type { Protocol, Counters, OpenTarget } from './protocols/protocol.js';
export type { ProtocolName } from './protocols/index.js';
export type { Endpoint } from './util/endpoint.js';
export type { TlsUserOptions } from './protocols/tls.js';
export type { CommonOptions } from './options.js';
export type {
  Result,
  HttpResult,
  DnsResult,
  Step,
  StepBase,
  HttpStep,
  DnsStep,
  LatencyStats,
  ErrorClass,
  ErrorCounts,
  TimelinePoint,
  Saturation,
  ProgressEvent,
  GeneratorLimit,
  LimitCause,
  ResultSegment,
  ResultStart,
  ResultTestbed,
  ResultPlan,
  ResultGenerator,
} from './result.js';
export type { ExperimentRead } from './experiment/read.js';
export type { ExperimentInput, ExperimentSummary, WorkloadSummary, TargetSummary, StepSummary, Comparison, SummaryCell, SummaryOptions } from './experiment/summary.js';
export type { MedianInterval, RatioInterval } from './measure/statistics.js';
export type { Zone, ZoneRecord } from './protocols/dns/zone/index.js';
export type { Query } from './protocols/dns/queries.js';
export type { WireMessage, WireRecord, Header as DnsHeader } from './protocols/dns/wire.js';
export type { HttpClient } from './protocols/http/driver.js';
export type { HttpTarget, HttpTargetOptions } from './targets/http.js';
export type { DnsTarget, DnsTargetOptions } from './targets/dns.js';
export type { Driver, DriverModule, DriverContext, Completion, DriverCounters } from './engine/driver.js';
export type { Histogram } from './measure/histogram.js';
export type { Plan, PlannedCell, ExperimentRun, ExperimentProgress, RunExperimentOptions, ExperimentManifest, ManifestCell } from './experiment/index.js';
