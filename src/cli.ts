#!/usr/bin/env node
/**
 * The command line: commander → options → library call → reporter → exit code.
 * Everything real lives in the library; it is imported lazily so `--help` and
 * usage errors answer at once.
 */
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, TsloadError, exitCodeOf } from './errors.js';
import type { CommonOptions } from './options.js';
import type { Result } from './result.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Options every load command shares (names and defaults documented in the README). */
function loadOptions(command: Command): Command {
  return command
    .option('-r, --rate <spec>', 'rate per second: 5000 | 100..10000 | 100..10000:500 | 100,500,2000', '1000')
    .option('--steps <n>', 'steps in a range without a step size (default 10)')
    .addOption(new Option('--scale <kind>', 'spacing of a range').choices(['linear', 'log']))
    .option('-d, --duration <time>', 'measured time per step (bare numbers are seconds)', '10s')
    .option('--warmup <time>', 'unmeasured time before each step', '1s')
    .option('-t, --threads <n>', 'load threads (the rate is split across them)', '1')
    .addOption(new Option('--arrival <kind>', 'inter-arrival times').choices(['constant', 'poisson']).default('constant'))
    .option('--seed <n>', 'seed for poisson arrivals and query shuffles', '1')
    .option('--max-inflight <n>', 'in-flight cap per thread; arrivals beyond it are dropped and counted')
    .option('--timeout <time>', 'per-request timeout', '5s')
    .option('--label <text>', 'series name in reports (default: the target)')
    .option('--slo-p99 <time>', 'saturation: p99 latency bound', '100ms')
    .option('--min-reply-ratio <r>', 'saturation: reply rate / target rate at least', '0.99')
    .option('--max-error-ratio <r>', 'saturation: (errors + timeouts + dropped) / sent below', '0.01')
    .option('--format <kind>', 'stdout format: text | json | httperf (http) | dnsperf (dns)', 'text')
    .option('--json <file>', "write the result as JSON ('-' for stdout)")
    .option('--csv <file>', 'write the per-step table as CSV')
    .option('--report <file>', 'write an HTML report of this run')
    .option('-q, --quiet', 'no progress on stderr')
    .option('--testbed', 'run inside the testbed client host against its running target');
}

interface OutputOptions {
  format: string;
  json?: string;
  csv?: string;
  report?: string;
  quiet?: boolean;
}

function commonFrom(o: Record<string, unknown>): CommonOptions {
  const pick = (k: string) => (o[k] === undefined ? {} : { [k]: o[k] });
  return {
    ...pick('rate'),
    ...pick('steps'),
    ...pick('scale'),
    ...pick('duration'),
    ...pick('warmup'),
    ...pick('threads'),
    ...pick('arrival'),
    ...pick('seed'),
    ...pick('maxInflight'),
    ...pick('timeout'),
    ...pick('label'),
    ...pick('sloP99'),
    ...pick('minReplyRatio'),
    ...pick('maxErrorRatio'),
  } as CommonOptions;
}

/** Runs a load command with progress, Ctrl-C handling and every requested output. */
async function runLoad<R extends Result>(
  protocol: R['protocol'],
  output: OutputOptions,
  start: (hooks: Pick<CommonOptions, 'signal' | 'onProgress' | 'onStep'> & { onNotice: (line: string) => void }) => Promise<R>,
): Promise<void> {
  const formats = protocol === 'http' ? ['text', 'json', 'httperf'] : ['text', 'json', 'dnsperf'];
  if (!formats.includes(output.format)) throw usage(`--format: '${output.format}' must be one of ${formats.join(', ')}`);
  const [{ createProgress }, report] = await Promise.all([import('./report/progress.js'), import('./report/index.js')]);
  const progress = createProgress(process.stderr, { quiet: output.quiet === true, protocol });
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    process.stderr.write('\ntsload: stopping (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  let result: R;
  try {
    result = await start({
      signal: controller.signal,
      onProgress: (e) => progress.update(e),
      onStep: (step, index, count) => progress.stepDone(step, index, count),
      onNotice: (line) => {
        if (output.quiet !== true) process.stderr.write(`${line}\n`);
      },
    });
  } finally {
    progress.finish();
    process.off('SIGINT', onSigint);
  }
  const toStdout = output.json === '-' || output.format === 'json';
  if (toStdout) process.stdout.write(report.formatJson(result));
  else if (output.format === 'httperf' && result.protocol === 'http') process.stdout.write(report.formatHttperf(result));
  else if (output.format === 'dnsperf' && result.protocol === 'dns') process.stdout.write(report.formatDnsperf(result));
  else process.stdout.write(report.formatText(result));
  if (output.json !== undefined && output.json !== '-') writeFileSync(output.json, report.formatJson(result));
  if (output.csv !== undefined) writeFileSync(output.csv, report.formatCsv(result));
  if (output.report !== undefined) await report.writeReportFor([result], { out: output.report });
  if (result.aborted) process.exitCode = ExitCode.interrupted;
}

function usage(message: string): TsloadError {
  return new (class extends TsloadError {
    override readonly code = 'TSLOAD_ERR_USAGE';
    override readonly exitCode = ExitCode.usage;
  })(message);
}

export function buildProgram(): Command {
  const program = new Command('tsload')
    .description('Open-loop HTTP and DNS load generator (replaces httperf and queryperf)')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  loadOptions(
    program
      .command('http')
      .description('HTTP load at a constant rate or a sweep of rates')
      .argument('[url]', 'target URL (default: start the built-in target on 127.0.0.1)'),
  )
    .option('-c, --connections <n>', 'keep-alive connections in total (default: rate/500, 8..1000)')
    .option('--pipelining <n>', 'requests in flight per connection', '1')
    .option('-m, --method <method>', 'request method (default GET, or POST with --body)')
    .option('-H, --header <header>', "request header 'name: value' (repeatable)", collect)
    .option('--body <text|@file>', 'request body, or @file')
    .option('--urls <file>', 'URLs or paths, one per line, used round robin (httperf --wlog)')
    .option('--new-connection-per-request', "httperf's default: a new TCP connection per request (for comparison only)")
    .action(async (url: string | undefined, o: Record<string, unknown> & OutputOptions) => {
      const { runHttp } = await import('./run.js');
      await runLoad('http', o, (hooks) =>
        runHttp({
          ...commonFrom(o),
          ...hooks,
          ...(url === undefined ? {} : { url }),
          ...(o.connections === undefined ? {} : { connections: o.connections as string }),
          pipelining: o.pipelining as string,
          ...(o.method === undefined ? {} : { method: o.method as string }),
          ...(o.header === undefined ? {} : { headers: o.header as string[] }),
          ...(o.body === undefined ? {} : { body: o.body as string }),
          ...(o.urls === undefined ? {} : { urls: o.urls as string }),
          newConnectionPerRequest: o.newConnectionPerRequest === true,
        }),
      );
    });

  const serve = program.command('serve').description('run a built-in target on its own');
  serve
    .command('http')
    .description('the built-in HTTP target: fixtures/www plus /_tsload/ test endpoints')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--root <dir>', 'directory of static files (default fixtures/www)')
    .action(async (o: { listen: string; root?: string }) => {
      const { startHttpTarget } = await import('./targets/http.js');
      const { host, port } = parseListen(o.listen);
      const target = await startHttpTarget({ host, port, ...(o.root === undefined ? {} : { root: o.root }) });
      process.stdout.write(`tsload: http target listening on ${target.url}\n`);
      await untilSignal();
      await target.close();
    });

  program
    .command('report')
    .description('an HTML report (and SVG charts, CSV) from result JSON files')
    .argument('<results...>', 'result JSON files written with --json')
    .option('-o, --out <file>', 'HTML report to write')
    .option('--svg <dir>', 'write each chart as a standalone SVG into this directory')
    .option('--csv <file>', 'write the per-step table of every result')
    .option('--title <text>', 'report title')
    .action(async (files: string[], o: { out?: string; svg?: string; csv?: string; title?: string }) => {
      const { writeReport } = await import('./report/html.js');
      const { written } = await writeReport(files, {
        ...(o.out === undefined ? {} : { out: o.out }),
        ...(o.svg === undefined ? {} : { svgDir: o.svg }),
        ...(o.csv === undefined ? {} : { csv: o.csv }),
        ...(o.title === undefined ? {} : { title: o.title }),
      });
      for (const file of written) process.stderr.write(`tsload: wrote ${file}\n`);
    });

  return program;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw usage(`--listen: '${listen}' is not host:port`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    process.stderr.write(`tsload: ${error instanceof TsloadError ? error.message : ((error as Error)?.stack ?? String(error))}\n`);
    return exitCodeOf(error);
  }
}

// Run when executed (bin/tsload.js or `node dist/cli.js`), not when imported.
if (process.argv[1] !== undefined && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv);
}
