#!/usr/bin/env node
/**
 * The command line: commander → options → library call → reporter → exit code.
 * Everything real lives in the library; it is imported lazily so `--help` and
 * usage errors answer at once.
 */
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, OptionsError, TsloadError, exitCodeOf } from './errors.js';
import type { CommonOptions } from './options.js';
import type { Result } from './result.js';
import type { HttpClient } from './protocols/http/driver.js';

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
    .option('--busy-poll', 'spin between sends: sub-millisecond send times at any rate, for a full core per thread')
    .option('--label <text>', 'series name in reports (default: the target)')
    .option('--slo-p99 <time>', 'saturation: p99 latency bound', '100ms')
    .option('--min-reply-ratio <r>', 'saturation: reply rate / target rate at least', '0.99')
    .option('--max-error-ratio <r>', 'saturation: (errors + timeouts + dropped + not sent) / arrivals below', '0.01')
    .option('--confirm <n>', 'saturation: measure a failing step this many more times before its failure counts', '1')
    .option('--refine <pct>', 'saturation: bisect between the last pass and the first failure until within this percent of the rate')
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
    ...pick('busyPoll'),
    ...pick('timeout'),
    ...pick('label'),
    ...pick('sloP99'),
    ...pick('minReplyRatio'),
    ...pick('maxErrorRatio'),
    ...pick('confirm'),
    ...pick('refine'),
  } as CommonOptions;
}

/**
 * Runs a load command with progress, Ctrl-C handling and every requested output.
 * `start` imports the library itself, so a usage error caught here (a bad
 * --format, an output that cannot be written) answers without loading it.
 */
async function runLoad<R extends Result>(
  protocol: R['protocol'],
  output: OutputOptions,
  start: (hooks: Pick<CommonOptions, 'signal' | 'onProgress' | 'onStep'> & { onNotice: (line: string) => void }) => Promise<R>,
): Promise<void> {
  const formats = protocol === 'http' ? ['text', 'json', 'httperf'] : ['text', 'json', 'dnsperf'];
  if (!formats.includes(output.format)) throw usage(`--format: '${output.format}' must be one of ${formats.join(', ')}`);
  checkOutputs(output);
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
  // Said even with --quiet: it hides progress, not where the results went.
  const wrote = (file: string): void => {
    process.stderr.write(`tsload: wrote ${file}\n`);
  };
  if (output.json !== undefined && output.json !== '-') {
    writeFileSync(output.json, report.formatJson(result));
    wrote(output.json);
  }
  if (output.csv !== undefined) {
    writeFileSync(output.csv, report.formatCsv(result));
    wrote(output.csv);
  }
  if (output.report !== undefined) (await report.writeReportFor([result], { out: output.report })).written.forEach(wrote);
  if (result.aborted) process.exitCode = ExitCode.interrupted;
  else if (result.steps.every((step) => step.completed === 0)) {
    process.stderr.write(`tsload: no request got a reply in any step (exit ${ExitCode.noReplies})\n`);
    process.exitCode = ExitCode.noReplies;
  }
}

const OUTPUTS = ['json', 'csv', 'report'] as const;

/**
 * Fails at once, before a run that may take minutes, if an output file cannot
 * be written. Missing folders are created (they are wanted anyway); the file
 * is opened for append, which changes nothing in one that exists, and removed
 * again if this made it, so a run that then fails leaves no empty file behind.
 */
function checkOutputs(output: OutputOptions): void {
  const problems: string[] = [];
  for (const name of OUTPUTS) {
    const file = output[name];
    if (file === undefined || (name === 'json' && file === '-')) continue;
    try {
      makeFolders(dirname(file));
      const existed = existsSync(file);
      if (existed && statSync(file).isDirectory()) throw new Error('it is a folder');
      closeSync(openSync(file, 'a'));
      if (!existed) rmSync(file);
    } catch (error) {
      problems.push(`--${name}: cannot write ${file}: ${reason(error)}`);
    }
  }
  if (problems.length > 0) throw new OptionsError(problems);
}

/**
 * mkdir -p by hand: Node's recursive mkdir never returns where the kernel
 * refuses a new folder with ENOENT (in /proc), and its error for a file in
 * the way names the wrong path.
 */
function makeFolders(dir: string): void {
  const missing: string[] = [];
  let d = dir;
  for (; !existsSync(d); d = dirname(d)) missing.unshift(d);
  if (!statSync(d).isDirectory()) throw new Error(`${d} is a file, not a folder`);
  for (const folder of missing) mkdirSync(folder);
}

/** Node's words for a file system error without the code and call around them ("EACCES: permission denied, open '…'"). */
function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return (e.code !== undefined && /^\w+: (.*?), \w+ '.*'$/.exec(e.message)?.[1]) || e.message;
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
    .option('-c, --connections <n>', 'a fixed pool of keep-alive connections in total, as wrk -c (default: the pool grows on demand)')
    .option('--max-connections <n>', 'how far the pool may grow (default: the open-file limit less 256, at most the local port range)')
    .option('--pipelining <n>', 'requests in flight per connection', '1')
    .option('-m, --method <method>', 'request method (default GET, or POST with --body)')
    .option('-H, --header <header>', "request header 'name: value' (repeatable)", collect)
    .option('--body <text|@file>', 'request body, or @file')
    .option('--urls <file>', 'URLs or paths, one per line, used round robin (httperf --wlog)')
    .option('--new-connection-per-request', "httperf's default: a new TCP connection per request (for comparison only)")
    .option('--client <native|undici>', "HTTP client: tsload's own (http:// only) or undici (default: native for http://, undici for https://)")
    .action(async (url: string | undefined, o: Record<string, unknown> & OutputOptions) => {
      await runLoad('http', o, async (hooks) =>
        (await import('./run.js')).runHttp({
          ...commonFrom(o),
          ...hooks,
          ...(url === undefined ? {} : { url }),
          ...(o.connections === undefined ? {} : { connections: o.connections as string }),
          ...(o.maxConnections === undefined ? {} : { maxConnections: o.maxConnections as string }),
          pipelining: o.pipelining as string,
          ...(o.method === undefined ? {} : { method: o.method as string }),
          ...(o.header === undefined ? {} : { headers: o.header as string[] }),
          ...(o.body === undefined ? {} : { body: o.body as string }),
          ...(o.urls === undefined ? {} : { urls: o.urls as string }),
          newConnectionPerRequest: o.newConnectionPerRequest === true,
          ...(o.client === undefined ? {} : { client: o.client as HttpClient }),
        }),
      );
    });

  loadOptions(program.command('dns').description('DNS load over UDP at a constant rate or a sweep of rates'))
    .option('--zone <file>', 'zone file: query every (owner, type) in it; without --server, serve it with the built-in server')
    .option('--queries <file>', 'dnsperf/queryperf data file (name type per line)')
    .option('-s, --server <host[:port]>', 'server to query (default port 53)')
    .option('--nx-ratio <r>', 'share of nonexistent names added to a zone\'s query mix', undefined)
    .option('--sockets <n>', 'UDP sockets per thread', '4')
    .option('--max-outstanding <n>', 'same as --max-inflight (dnsperf\'s name)')
    .option('--edns <size>', 'EDNS0 with this UDP payload size')
    .option('--dnssec', 'set the DO bit')
    .option('--no-rd', 'clear the RD (recursion desired) bit')
    .option('--emit-queries', 'print the query list derived from the zone as a dnsperf data file and exit')
    .action(async (o: Record<string, unknown> & OutputOptions) => {
      const dnsOptions = {
        ...commonFrom(o),
        ...(o.zone === undefined ? {} : { zone: o.zone as string }),
        ...(o.queries === undefined ? {} : { queries: o.queries as string }),
        ...(o.server === undefined ? {} : { server: o.server as string }),
        ...(o.nxRatio === undefined ? {} : { nxRatio: o.nxRatio as string }),
        sockets: o.sockets as string,
        ...(o.maxOutstanding === undefined ? {} : { maxOutstanding: o.maxOutstanding as string }),
        ...(o.edns === undefined ? {} : { edns: o.edns as string }),
        dnssec: o.dnssec === true,
        recursionDesired: o.rd !== false,
      };
      if (o.emitQueries === true) {
        const [{ dnsQueries }, { formatQueryFile }, { throwIfProblems }] = await Promise.all([
          import('./run.js'),
          import('./protocols/dns/queries.js'),
          import('./options.js'),
        ]);
        const problems: string[] = [];
        const queries = dnsQueries(dnsOptions, problems);
        throwIfProblems(problems);
        process.stdout.write(formatQueryFile(queries));
        return;
      }
      await runLoad('dns', o, async (hooks) => (await import('./run.js')).runDns({ ...dnsOptions, ...hooks }));
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

  serve
    .command('dns')
    .description('the built-in authoritative DNS server for a zone (UDP)')
    .requiredOption('--zone <file>', 'zone file to serve (repeatable)', collect)
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:5353')
    .action(async (o: { zone: string[]; listen: string }) => {
      const [{ startDnsTarget }, { loadZone }] = await Promise.all([import('./targets/dns.js'), import('./protocols/dns/zone/index.js')]);
      const { host, port } = parseListen(o.listen);
      const target = await startDnsTarget({ zones: o.zone.map((file) => loadZone(file)), host, port });
      process.stdout.write(`tsload: dns target listening on ${target.address}\n`);
      await untilSignal();
      await target.close();
    });

  const testbed = program
    .command('testbed')
    .description('two hosts (network namespaces) joined by a shaped link, with real target servers; needs root');
  testbed
    .command('up')
    .description('create (or re-shape) the client and server hosts and their link')
    .option('--rate <rate>', 'link rate each way (tc units)', '1gbit')
    .option('--delay <time>', 'added one-way delay', '0')
    .option('--loss <percent>', 'share of packets dropped on the way to the client', '0%')
    .action(async (o: { rate: string; delay: string; loss: string }) => {
      const tb = await import('./testbed/index.js');
      process.stdout.write(`${tb.formatStatus(await tb.up(o))}\n`);
    });
  testbed
    .command('down')
    .description('stop every target and remove everything the testbed made')
    .action(async () => {
      const tb = await import('./testbed/index.js');
      const removed = await tb.down();
      process.stdout.write(removed.length === 0 ? 'testbed: nothing to remove\n' : removed.map((line) => `testbed: ${line}\n`).join(''));
    });
  testbed
    .command('status')
    .description('hosts, link shaping and running targets')
    .option('--json', 'as JSON')
    .action(async (o: { json?: boolean }) => {
      const tb = await import('./testbed/index.js');
      const status = await tb.status();
      process.stdout.write(o.json === true ? `${JSON.stringify(status, null, 2)}\n` : `${tb.formatStatus(status)}\n`);
    });
  testbed
    .command('start')
    .description('start a target in the server host: builtin-http, nginx, apache, lighttpd, builtin-dns, bind, nsd, knot')
    .argument('<target>')
    .option('--zone <file>', 'DNS targets: zone to serve (default fixtures/test.zone)')
    .option('--workers <n>', 'worker processes or threads', '1')
    .option('--root <dir>', 'HTTP targets: document root (default: a copy of fixtures/www)')
    .action(async (name: string, o: { zone?: string; workers: string; root?: string }) => {
      const tb = await import('./testbed/index.js');
      const workers = Number(o.workers);
      if (!Number.isInteger(workers) || workers < 1) throw usage(`--workers: '${o.workers}' must be a whole number >= 1`);
      const t = await tb.start(name as Parameters<typeof tb.start>[0], {
        workers,
        ...(o.zone === undefined ? {} : { zone: o.zone }),
        ...(o.root === undefined ? {} : { root: o.root }),
      });
      process.stdout.write(`testbed: ${t.name} running (pid ${t.pid}) at ${t.endpoint}, log ${t.log}\n`);
    });
  testbed
    .command('stop')
    .description('stop a target, or all of them')
    .argument('[target]')
    .option('--all', 'stop every running target')
    .action(async (name: string | undefined, o: { all?: boolean }) => {
      const tb = await import('./testbed/index.js');
      if ((name === undefined) === (o.all !== true)) throw usage('testbed stop: name one target or give --all');
      const stopped = await tb.stop((name ?? 'all') as Parameters<typeof tb.stop>[0]);
      process.stdout.write(stopped.length === 0 ? 'testbed: no such target running\n' : `testbed: stopped ${stopped.map((t) => t.name).join(', ')}\n`);
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

/**
 * `tsload http|dns --testbed …`: run this same command line again inside the
 * testbed's client host, aimed at the server host's running target unless the
 * user named one. Network namespaces are per process, so a child is the only way.
 */
async function runInTestbed(protocol: 'http' | 'dns', argv: string[], hasTarget: boolean): Promise<number> {
  const [tb, { cliCommand }] = await Promise.all([import('./testbed/index.js'), import('./cli-command.js')]);
  const args = argv.filter((a) => a !== '--testbed');
  if (!hasTarget) {
    const target = await tb.defaultTarget(protocol);
    if (target === undefined) throw usage(`--testbed: no ${protocol} target is running; start one with 'tsload testbed start ${protocol === 'http' ? 'nginx' : 'nsd'}'`);
    args.push(...(protocol === 'http' ? [target] : ['--server', target]));
  }
  const cli = cliCommand();
  const { command, args: wrapped } = tb.clientCommand([cli.command, ...cli.args, ...args]);
  const { spawn } = await import('node:child_process');
  const child = spawn(command, wrapped, { stdio: 'inherit' });
  // The child gets Ctrl-C from the terminal itself; wait for it to finish writing.
  process.on('SIGINT', () => {});
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? ExitCode.interrupted : ExitCode.failure))));
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
    const [, , protocol, ...rest] = argv;
    if ((protocol === 'http' || protocol === 'dns') && rest.includes('--testbed')) {
      const program = buildProgram();
      // Parse once here so usage errors are reported before anything starts.
      const command = program.commands.find((c) => c.name() === protocol)!;
      command.action(() => {});
      await program.parseAsync(argv);
      const hasTarget = protocol === 'http' ? command.args.length > 0 : command.opts().server !== undefined;
      return await runInTestbed(protocol, argv.slice(2), hasTarget);
    }
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
