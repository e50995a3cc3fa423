#!/usr/bin/env node
/**
 * The command line: commander → options → library call → reporter → exit code.
 * Everything real lives in the library; it is imported lazily so `--help` and
 * usage errors answer at once.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, OptionsError, TsloadError, exitCodeOf } from './errors.js';
import type { CommonOptions } from './options.js';
import type { Outputs } from './outputs.js';
import type { ProgressEvent, Result } from './result.js';
import type { OptionsOf } from './run.js';
import type { ProtocolName } from './protocols/index.js';
import type { HttpClient } from './protocols/http/driver.js';
import { parseEndpoint } from './util/endpoint.js';
import { VERSION } from './version.js';

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
    .option('--hlog <file>', 'write an HdrHistogram interval log: a histogram per second, tagged stepN-latency and stepN-service, in microseconds')
    .option('--hgrm <dir>', "write each step's percentile distributions as wrk2 prints them (stepN-latency.hgrm, stepN-service.hgrm, ms)")
    .option('--segment <i/N|from:to>', "run this generator's share of a distributed run: the i-th of N (from 1), or k6's from:to (default: the launcher's variables)")
    .option('--segment-sequence <points>', "with --segment from:to: k6's segment sequence, the same in every generator (0,1/4,1/2,3/4,1)")
    .option('--start-at <time>', 'start step 1 at this wall-clock instant (ISO time with zone, epoch ms, or +10s); later steps in fixed slots after it')
    .option('-q, --quiet', 'no progress on stderr')
    .option('--testbed', 'run inside the testbed client host against its running target')
    .option('--generator-cpus <list>', "with --testbed: CPUs the generator runs on, or 'all' (default: those the target's cpuset leaves free)");
}

interface OutputOptions {
  format: string;
  json?: string;
  csv?: string;
  report?: string;
  hlog?: string;
  hgrm?: string;
  quiet?: boolean;
  testbed?: boolean;
  generatorCpus?: string;
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
    ...pick('segment'),
    ...pick('segmentSequence'),
    ...pick('startAt'),
    ...(o['hlog'] === undefined ? {} : { timelineHistograms: true }),
  } as CommonOptions;
}

/**
 * Runs a load command with progress, Ctrl-C handling and every requested
 * output: the library's runLoad (or runInTestbed with --testbed), then its
 * writeOutputs. Outputs are checked before anything runs.
 */
async function runLoad<N extends ProtocolName>(protocol: N, output: OutputOptions, options: OptionsOf[N]): Promise<void> {
  const outputs: Outputs = { format: output.format, ...pickOutputs(output) };
  const [{ checkOutputs, writeOutputs }, { createProgress }] = await Promise.all([import('./outputs.js'), import('./report/progress.js')]);
  checkOutputs(protocol, outputs);
  const progress = createProgress(process.stderr, { quiet: output.quiet === true, protocol });
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    process.stderr.write('\ntsload: stopping (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  let result: Result;
  try {
    const hooked = {
      ...options,
      signal: controller.signal,
      onProgress: (e: ProgressEvent) => progress.update(e),
      onStep: (step: Parameters<NonNullable<CommonOptions['onStep']>>[0], index: number, count: number) => progress.stepDone(step, index, count),
      onNotice: (line: string) => {
        if (output.quiet !== true) process.stderr.write(`${line}\n`);
      },
    };
    result =
      output.testbed === true
        ? await (await import('./testbed/run.js')).runInTestbed(protocol, { ...hooked, ...(output.generatorCpus === undefined ? {} : { generatorCpus: output.generatorCpus }) })
        : await (await import('./run.js')).runLoad(protocol, hooked);
  } finally {
    progress.finish();
    process.off('SIGINT', onSigint);
  }
  // Said even with --quiet: it hides progress, not where the results went.
  for (const file of await writeOutputs(result, outputs)) process.stderr.write(`tsload: wrote ${file}\n`);
  if (result.aborted) process.exitCode = ExitCode.interrupted;
  else if (result.steps.every((step) => step.completed === 0)) {
    process.stderr.write(`tsload: no request got a reply in any step (exit ${ExitCode.noReplies})\n`);
    process.exitCode = ExitCode.noReplies;
  }
}

function pickOutputs(o: OutputOptions): Omit<Outputs, 'format'> {
  return {
    ...(o.json === undefined ? {} : { json: o.json }),
    ...(o.csv === undefined ? {} : { csv: o.csv }),
    ...(o.report === undefined ? {} : { report: o.report }),
    ...(o.hlog === undefined ? {} : { hlog: o.hlog }),
    ...(o.hgrm === undefined ? {} : { hgrm: o.hgrm }),
  };
}

/** A bad flag or combination: an OptionsError like the library's, so every bad option is one class (exit 2). */
function usage(message: string): OptionsError {
  return new OptionsError([message]);
}

export function buildProgram(): Command {
  const program = new Command('tsload')
    .description('Open-loop HTTP and DNS load generator (replaces httperf and queryperf)')
    .version(VERSION)
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
    .option('--secret-header <name>', 'the value of this -H header is redacted in results and reports, as Authorization, Proxy-Authorization and Cookie always are (repeatable)', collect)
    .option('--body <text|@file>', 'request body, or @file')
    .option('--urls <file>', 'URLs or paths, one per line, used round robin (httperf --wlog)')
    .option('--new-connection-per-request', "httperf's default: a new TCP connection per request (for comparison only)")
    .option('--client <native|undici>', "HTTP client: tsload's own (HTTP/1.1 over http://, HTTP/2 without a body) or undici (default: native, but undici for HTTP/1.1 over https:// and HTTP/2 with --body)")
    .option('--http2', 'HTTP/2: ALPN h2 over https://, prior knowledge (h2c) over http://')
    .option('--streams <n>', 'with --http2: requests in flight per connection, as concurrent streams (h2load -m)')
    .option('--insecure', "https://: do not verify the server's certificate")
    .option('--ca <file>', 'https://: PEM file of CA certificates to verify the server with')
    .option('--tls-servername <name>', 'https://: SNI name and the name the certificate must match')
    .action(async (url: string | undefined, o: Record<string, unknown> & OutputOptions) => {
      await runLoad('http', o, {
          ...commonFrom(o),
          ...(url === undefined ? {} : { url }),
          ...(o.connections === undefined ? {} : { connections: o.connections as string }),
          ...(o.maxConnections === undefined ? {} : { maxConnections: o.maxConnections as string }),
          pipelining: o.pipelining as string,
          ...(o.method === undefined ? {} : { method: o.method as string }),
          ...(o.header === undefined ? {} : { headers: o.header as string[] }),
          ...(o.secretHeader === undefined ? {} : { secretHeaders: o.secretHeader as string[] }),
          ...(o.body === undefined ? {} : { body: o.body as string }),
          ...(o.urls === undefined ? {} : { urls: o.urls as string }),
          newConnectionPerRequest: o.newConnectionPerRequest === true,
          ...(o.client === undefined ? {} : { client: o.client as HttpClient }),
          ...(o.http2 === true ? { http2: true } : {}),
          ...(o.streams === undefined ? {} : { streams: o.streams as string }),
          ...(o.insecure === true ? { insecure: true } : {}),
          ...(o.ca === undefined ? {} : { ca: o.ca as string }),
          ...(o.tlsServername === undefined ? {} : { tlsServername: o.tlsServername as string }),
      });
    });

  loadOptions(program.command('dns').description('DNS load over UDP, TCP or TLS at a constant rate or a sweep of rates'))
    .option('--zone <file>', 'zone file: query every (owner, type) in it; without --server, serve it with the built-in server')
    .option('--queries <file>', 'dnsperf/queryperf data file (name type per line)')
    .option('-s, --server <host[:port]>', 'server to query (default port 53)')
    .option('--nx-ratio <r>', 'share of nonexistent names added to a zone\'s query mix', undefined)
    .option('--sockets <n>', 'UDP sockets, or TCP/TLS connections, per thread', '4')
    .option('--transport <udp|tcp|tls>', "udp, tcp (RFC 7766) or tls (RFC 7858, default port 853): dnsperf's -m udp|tcp|dot", 'udp')
    .option('--insecure', 'tls: do not verify the server certificate')
    .option('--ca <file>', 'tls: verify the server with the CA certificates in this PEM file')
    .option('--tls-servername <name>', 'tls: SNI and the name the certificate must match (default: the server name; none for an address)')
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
        transport: o.transport as string,
        ...(o.insecure === true ? { insecure: true } : {}),
        ...(o.ca === undefined ? {} : { ca: o.ca as string }),
        ...(o.tlsServername === undefined ? {} : { tlsServername: o.tlsServername as string }),
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
        const queries = dnsQueries({ ...dnsOptions, onNotice: (line) => process.stderr.write(`${line}\n`) }, problems);
        throwIfProblems(problems);
        process.stdout.write(formatQueryFile(queries));
        return;
      }
      await runLoad('dns', o, dnsOptions);
    });

  const serve = program.command('serve').description('run a built-in target on its own');
  serve
    .command('http')
    .description('the built-in HTTP target: fixtures/www plus /_tsload/ test endpoints')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--root <dir>', 'directory of static files (default fixtures/www)')
    .option('--tls-cert <file>', 'serve HTTPS (HTTP/2 by ALPN, and HTTP/1.1) with this PEM certificate (chain)')
    .option('--tls-key <file>', "the certificate's PEM private key")
    .option('--h2c', 'over cleartext, serve HTTP/2 with prior knowledge instead of HTTP/1.1')
    .option('--test-endpoints', 'serve /_tsload/ (delay, status, bytes, freeze, burn) even when listening beyond loopback, where one request can stall the process (default: on loopback only)')
    .option('--no-test-endpoints', 'do not serve /_tsload/, even on loopback')
    .action(async (o: { listen: string; root?: string; tlsCert?: string; tlsKey?: string; h2c?: boolean; testEndpoints?: boolean }) => {
      const { startHttpTarget } = await import('./targets/http.js');
      const { host, port } = parseListen(o.listen);
      if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw usage('--tls-cert and --tls-key: give both, or neither');
      if (o.tlsCert !== undefined && o.h2c === true) throw usage('--h2c: is HTTP/2 over cleartext; with --tls-cert the target already speaks HTTP/2 by ALPN');
      const tls = o.tlsCert === undefined ? undefined : { cert: readPem(o.tlsCert, '--tls-cert'), key: readPem(o.tlsKey!, '--tls-key') };
      const target = await startHttpTarget({ host, port, ...(o.root === undefined ? {} : { root: o.root }), ...(tls === undefined ? {} : { tls }), ...(o.h2c === true ? { h2c: true } : {}), ...(o.testEndpoints === undefined ? {} : { testEndpoints: o.testEndpoints }) });
      if (!target.testEndpoints && o.testEndpoints === undefined) process.stderr.write(`tsload: test endpoints (/_tsload/) are off beyond loopback; --test-endpoints serves them\n`);
      process.stdout.write(`tsload: http target listening on ${target.url}\n`);
      await untilSignal();
      await target.close();
    });

  serve
    .command('dns')
    .description('the built-in authoritative DNS server for a zone (UDP and TCP on one port; TLS with a certificate)')
    .requiredOption('--zone <file>', 'zone file to serve (repeatable)', collect)
    .option('--listen <host:port>', 'address to listen on (UDP and TCP)', '127.0.0.1:5353')
    .option('--tls-cert <file>', 'PEM certificate (chain) to serve DNS over TLS with')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-listen <host:port>', 'TLS address (default: the --listen host, port 853)')
    .action(async (o: { zone: string[]; listen: string; tlsCert?: string; tlsKey?: string; tlsListen?: string }) => {
      const [{ startDnsTarget }, { loadZone }, { readFileSync }] = await Promise.all([import('./targets/dns.js'), import('./protocols/dns/zone/index.js'), import('node:fs')]);
      const { host, port } = parseListen(o.listen);
      if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw usage('--tls-cert and --tls-key: give both, or neither');
      if (o.tlsListen !== undefined && o.tlsCert === undefined) throw usage('--tls-listen: needs --tls-cert and --tls-key');
      const read = (file: string, what: string): string => {
        try {
          return readFileSync(file, 'utf8');
        } catch (error) {
          throw usage(`--tls-${what}: cannot read ${file}: ${(error as Error).message}`);
        }
      };
      const tlsAt = o.tlsListen === undefined ? { host, port: 853 } : parseListen(o.tlsListen);
      const tls = o.tlsCert === undefined ? undefined : { cert: read(o.tlsCert, 'cert'), key: read(o.tlsKey!, 'key'), ...tlsAt };
      const target = await startDnsTarget({ zones: o.zone.map((file) => loadZone(file)), host, port, ...(tls === undefined ? {} : { tls }) });
      process.stdout.write(`tsload: dns target listening on ${target.address}\n`);
      if (target.tlsPort !== undefined) process.stdout.write(`tsload: dns target listening for TLS on ${tlsAt.host.includes(':') ? `[${tlsAt.host}]` : tlsAt.host}:${target.tlsPort}\n`);
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
    .option('--clients <n>', 'client hosts on one switch with the server; --testbed runs segment i in host i (default 1, or as the running testbed has)')
    .action(async (o: { rate: string; delay: string; loss: string; clients?: string }) => {
      const tb = await import('./testbed/index.js');
      const { parseClients } = await import('./testbed/settings.js');
      const { clients, ...link } = o;
      process.stdout.write(`${tb.formatStatus(await tb.up({ ...link, ...(clients === undefined ? {} : { clients: parseClients(clients) }) }))}\n`);
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
    .description('start a target in the server host: builtin-http, nginx, apache, lighttpd, builtin-dns, bind, nsd, knot, or vm (a guest under qemu)')
    .argument('<target>')
    .option('--zone <file>', 'DNS targets: zone to serve (default fixtures/test.zone)')
    .option('--workers <n>', 'worker processes or threads', '1')
    .option('--root <dir>', 'HTTP targets: document root (default: a copy of fixtures/www)')
    .option('--name <name>', 'vm: target name (default vm)')
    .option('--kernel <file>', 'vm: kernel for qemu -kernel (Linux, Unikraft, Solo5 .virtio)')
    .option('--initrd <file>', 'vm: initramfs')
    .option('--append <args>', 'vm: kernel command line; {address} {gateway} {netmask} {prefix} are filled in')
    .option('--disk <file>', 'vm: disk image on a virtio drive (qcow2 or raw, snapshot=on)')
    .addOption(new Option('--accel <kind>', 'vm: accelerator').choices(['kvm', 'tcg', 'auto']).default('auto'))
    .option('--cpus <n|list>', 'servers: a cpuset (a count of the highest-numbered CPUs, or a list such as 0-1,3); vm: virtual CPUs (qemu -smp, default 1)')
    .option('--memory <size>', 'servers: a memory limit (256m, 1g); vm: its memory (qemu -m, default 256M)')
    .option('--port <proto=port>', 'vm: what the guest serves: http=80, dns=53 (a bare number is http; repeatable)', collect)
    .option('--ready-timeout <seconds>', 'vm: how long the guest may take to answer', '60')
    .option('--qemu-arg <arg>', 'vm: one more qemu argument (repeatable), e.g. --qemu-arg=-cpu --qemu-arg=Westmere', collect)
    .action(async (name: string, o: { zone?: string; workers: string; root?: string } & VmFlags) => {
      const tb = await import('./testbed/index.js');
      if (name === 'vm') {
        if (o.zone !== undefined || o.root !== undefined || o.workers !== '1') throw usage('testbed start vm: --zone, --root and --workers are for the server targets (a guest brings its own content; --cpus sets its CPUs)');
        const vm = await tb.startVm(vmOptions(o));
        const services = (vm.services ?? []).map((s) => `${s.protocol} ${s.endpoint}`).join(', ');
        process.stdout.write(`testbed: ${vm.name} running under qemu (pid ${vm.pid}, ${vm.vm?.accel}: ${vm.vm?.accelReason}) at ${services}, console ${vm.vm?.console}\n`);
        return;
      }
      const vmOnly = (['name', 'kernel', 'initrd', 'append', 'disk', 'port', 'qemuArg'] as const).filter((k) => o[k] !== undefined);
      if (vmOnly.length > 0) throw usage(`testbed start ${name}: --${vmOnly[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for \`testbed start vm\``);
      const workers = Number(o.workers);
      if (!Number.isInteger(workers) || workers < 1) throw usage(`--workers: '${o.workers}' must be a whole number >= 1`);
      const t = await tb.start(name as Parameters<typeof tb.start>[0], {
        workers,
        ...(o.zone === undefined ? {} : { zone: o.zone }),
        ...(o.root === undefined ? {} : { root: o.root }),
        ...(o.cpus === undefined ? {} : { cpus: o.cpus }),
        ...(o.memory === undefined ? {} : { memory: o.memory }),
      });
      process.stdout.write(`testbed: ${t.name} running (pid ${t.pid}) at ${t.endpoint}${t.tlsEndpoint === undefined ? '' : ` (TLS ${t.tlsEndpoint})`}, log ${t.log}${tb.formatLimits(t)}\n`);
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
    .command('merge')
    .description("one result from the results of a distributed run's generators (--segment), as if one generator had run it")
    .argument('<results...>', 'result JSON files, one per generator')
    .requiredOption('-o, --out <file>', "merged result JSON ('-' for stdout)")
    .option('--max-skew <time>', 'warn when generators started a step further apart than this', '5ms')
    .option('--hlog <file>', 'also write the merged HdrHistogram interval log')
    .option('--hgrm <dir>', "also write each step's merged percentile distributions (.hgrm)")
    .option('-q, --quiet', 'no summary on stdout, no warnings')
    .action(async (files: string[], o: { out: string; maxSkew: string; hlog?: string; hgrm?: string; quiet?: boolean }) => {
      const [{ loadResults }, { mergeResults }, { parseDuration, throwIfProblems }, { writeOutputs }] = await Promise.all([
        import('./report/html.js'),
        import('./result/merge.js'),
        import('./options.js'),
        import('./outputs.js'),
      ]);
      const problems: string[] = [];
      const maxSkewMs = parseDuration(o.maxSkew, 'max-skew', problems, 'ms');
      throwIfProblems(problems);
      const results = await loadResults(files);
      const merged = mergeResults(results, { maxSkewMs, onWarning: (line) => o.quiet === true || process.stderr.write(`${line}\n`) }, files);
      const outputs = {
        format: o.out === '-' ? 'json' : o.quiet === true ? 'none' : 'text',
        json: o.out,
        ...(o.hlog === undefined ? {} : { hlog: o.hlog }),
        ...(o.hgrm === undefined ? {} : { hgrm: o.hgrm }),
      };
      for (const file of await writeOutputs(merged, outputs)) process.stderr.write(`tsload: wrote ${file}\n`);
    });

  program
    .command('experiment')
    .description('run a plan (targets × workloads × repeats, YAML or JSON) in the testbed into a results folder; the same command resumes it')
    .argument('<plan>', 'plan file (see fixtures/experiments/)')
    .option('-o, --out <dir>', 'results folder (default: results/<plan name>, so running the command again resumes)')
    .option('-q, --quiet', 'no progress on stderr')
    .action(async (file: string, o: { out?: string; quiet?: boolean }) => {
      const [{ loadPlan, runExperiment, createExperimentProgress }, { join }] = await Promise.all([import('./experiment/index.js'), import('node:path')]);
      const plan = loadPlan(file);
      const out = o.out ?? join('results', plan.name.replace(/[^A-Za-z0-9_.-]/g, '_'));
      const progress = createExperimentProgress(process.stderr, { quiet: o.quiet === true });
      const controller = new AbortController();
      const onSigint = (): void => {
        if (controller.signal.aborted) process.exit(ExitCode.interrupted);
        progress.line('tsload: stopping: the cell in progress is dropped, the target stopped (Ctrl-C again to quit at once)');
        controller.abort();
      };
      // A CI job's timeout sends SIGTERM: stop as cleanly as for Ctrl-C.
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      let run: Awaited<ReturnType<typeof runExperiment>>;
      try {
        run = await runExperiment(plan, { out, planFile: file, signal: controller.signal, onProgress: (e) => progress.update(e), onNotice: (line) => progress.line(line) });
      } finally {
        progress.finish();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
      const done = run.manifest.cells.filter((c) => c.status === 'done').length;
      process.stderr.write(
        `tsload: ${run.out}: ${done}/${run.manifest.cells.length} cells done (${run.ran.length} this run, ${run.skipped.length} skipped as done before)` +
          `${run.failed.length > 0 ? `, ${run.failed.length} failed: ${run.failed.join(', ')}` : ''}${run.interrupted ? '; interrupted: run the same command to resume' : ''}\n`,
      );
      // The study's figures in the folder beside its cells: the summary across repeats, as text on stdout and as report.html, summary.json and summary.csv.
      if (!run.interrupted && done > 0) {
        const { writeExperimentReport } = await import('./experiment/report.js');
        const report = await writeExperimentReport(run.out, { json: join(run.out, 'summary.json'), csv: join(run.out, 'summary.csv') });
        process.stdout.write(report.text.endsWith('\n') ? report.text : `${report.text}\n`);
        for (const written of report.written) process.stderr.write(`tsload: wrote ${written}\n`);
      }
      if (run.interrupted) process.exitCode = ExitCode.interrupted;
      else if (run.failed.length > 0) process.exitCode = ExitCode.failure;
    });

  program
    .command('report')
    .description('an HTML report (and SVG charts, CSV) from result JSON files, or the summary of an experiment results folder')
    .argument('<results...>', 'result JSON files written with --json, or one results folder (with a manifest.json)')
    .option('-o, --out <file>', 'HTML report to write (for a folder, default <folder>/report.html)')
    .option('--svg <dir>', 'write each chart as a standalone SVG into this directory')
    .option('--csv <file>', 'write the per-step table of every result (for a folder: the summary, medians and intervals)')
    .option('--json <file>', 'for a folder: write the summary as JSON')
    .option('--confidence <level>', 'for a folder: confidence asked of the intervals, 0.5..0.999 (default 0.95)')
    .option('--title <text>', 'report title')
    .action(async (files: string[], o: { out?: string; svg?: string; csv?: string; json?: string; confidence?: string; title?: string }) => {
      const { isResultsFolder } = await import('./experiment/read.js');
      if (files.some(isResultsFolder)) {
        if (files.length > 1) throw usage('report: give one results folder, or result JSON files, not both');
        const confidence = Number(o.confidence ?? '0.95');
        if (!(confidence >= 0.5 && confidence <= 0.999)) throw usage(`--confidence: '${o.confidence}' must be a number from 0.5 to 0.999`);
        const { writeExperimentReport } = await import('./experiment/report.js');
        const { written, text } = await writeExperimentReport(files[0]!, {
          ...(o.out === undefined ? {} : { out: o.out }),
          ...(o.svg === undefined ? {} : { svgDir: o.svg }),
          ...(o.csv === undefined ? {} : { csv: o.csv }),
          ...(o.json === undefined ? {} : { json: o.json }),
          ...(o.title === undefined ? {} : { title: o.title }),
          confidence,
        });
        process.stdout.write(text);
        for (const file of written) process.stderr.write(`tsload: wrote ${file}\n`);
        return;
      }
      if (o.json !== undefined) throw usage('report --json: writes the summary of a results folder; for result files use --csv');
      if (o.confidence !== undefined) throw usage('report --confidence: applies to the summary of a results folder');
      const { statSync } = await import('node:fs');
      const folder = files.find((f) => statSync(f, { throwIfNoEntry: false })?.isDirectory() === true);
      if (folder !== undefined) throw usage(`report: ${folder} is a folder without a manifest.json, not a results folder of tsload experiment`);
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

interface VmFlags {
  name?: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  disk?: string;
  accel: 'kvm' | 'tcg' | 'auto';
  cpus?: string;
  memory?: string;
  port?: string[];
  readyTimeout: string;
  qemuArg?: string[];
}

export function vmOptions(o: VmFlags): import('./testbed/index.js').VmOptions {
  const ports: { http?: number; dns?: number } = {};
  for (const spec of o.port ?? []) {
    const match = /^(?:(http|dns)=)?(\d+)$/.exec(spec);
    if (match === null) throw usage(`--port ${spec}: expected http=PORT, dns=PORT or a bare port (http)`);
    const port = Number(match[2]);
    if (port < 1 || port > 65535) throw usage(`--port ${spec}: a port is 1 to 65535`);
    ports[(match[1] ?? 'http') as 'http' | 'dns'] = port;
  }
  const cpus = Number(o.cpus ?? '1');
  if (!Number.isInteger(cpus) || cpus < 1) throw usage(`--cpus: '${o.cpus}' must be a whole number >= 1 for a vm (its virtual CPUs)`);
  const seconds = Number(o.readyTimeout);
  if (!(Number.isFinite(seconds) && seconds > 0)) throw usage(`--ready-timeout: '${o.readyTimeout}' must be a number of seconds > 0`);
  return {
    ...(o.name === undefined ? {} : { name: o.name }),
    ...(o.kernel === undefined ? {} : { kernel: o.kernel }),
    ...(o.initrd === undefined ? {} : { initrd: o.initrd }),
    ...(o.append === undefined ? {} : { append: o.append }),
    ...(o.disk === undefined ? {} : { disk: o.disk }),
    accel: o.accel,
    cpus,
    memory: o.memory ?? '256M',
    ports,
    readyTimeoutMs: seconds * 1000,
    ...(o.qemuArg === undefined ? {} : { qemuArgs: o.qemuArg }),
  };
}

function readPem(file: string, option: string): string {
  try {
    const pem = readFileSync(file, 'utf8');
    if (!pem.includes('-----BEGIN ')) throw new Error('no PEM block in it');
    return pem;
  } catch (error) {
    throw usage(`${option}: cannot use ${file}: ${(error as Error).message}`);
  }
}

export function parseListen(listen: string): { host: string; port: number } {
  const endpoint = listen.includes(':') ? parseEndpoint(listen, { host: '127.0.0.1' }) : undefined;
  if (endpoint === undefined) throw usage(`--listen: '${listen}' is not host:port`);
  return endpoint;
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
