/**
 * Secret request headers: Authorization, Proxy-Authorization, Cookie and any
 * --secret-header go to the server as given, and everything tsload writes
 * (the result JSON, text, httperf, CSV, HTML, hlog, merged results, an
 * experiment's manifest) shows them as [redacted].
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionsError } from '../../../src/errors.js';
import { recordedPlan } from '../../../src/experiment/run.js';
import { parsePlan } from '../../../src/experiment/plan.js';
import { writeOutputs } from '../../../src/outputs.js';
import { formatHttperf, formatText } from '../../../src/report/index.js';
import { mergeResults } from '../../../src/result/merge.js';
import { runHttp } from '../../../src/run.js';
import { tsload } from '../../run-cli.js';

const HEADERS = ['Authorization: Bearer s3cr3t-auth', 'Proxy-Authorization: Basic s3cr3t-proxy', 'Cookie: sid=s3cr3t-cookie', 'X-Api-Key: s3cr3t-key', 'X-Trace: shown-trace'];
const SECRETS = ['s3cr3t-auth', 's3cr3t-proxy', 's3cr3t-cookie', 's3cr3t-key'];
const RECORDED: [string, string][] = [
  ['Authorization', '[redacted]'],
  ['Proxy-Authorization', '[redacted]'],
  ['Cookie', '[redacted]'],
  ['X-Api-Key', '[redacted]'],
  ['X-Trace', 'shown-trace'],
];

/** A raw server that keeps the headers of every request it is sent. */
let server: Server;
let url: string;
const seen: IncomingHttpHeaders[] = [];
const dir = mkdtempSync(join(tmpdir(), 'tsload-secrets-'));

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-length': '2' });
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** The server got every real value. */
function expectSentAsGiven(): void {
  const last = seen.at(-1)!;
  expect(last['authorization']).toBe('Bearer s3cr3t-auth');
  expect(last['proxy-authorization']).toBe('Basic s3cr3t-proxy');
  expect(last['cookie']).toBe('sid=s3cr3t-cookie');
  expect(last['x-api-key']).toBe('s3cr3t-key');
  expect(last['x-trace']).toBe('shown-trace');
}

function expectNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) expect(text.includes(secret), `${where} holds ${secret}`).toBe(false);
}

describe('secret request headers', () => {
  for (const client of ['native', 'undici'] as const) {
    it(`${client}: sent as given, recorded redacted in the result, and absent from every output file`, async () => {
      seen.length = 0;
      const result = await runHttp({ url, client, rate: 50, duration: 400, warmup: 0, headers: HEADERS, secretHeaders: ['x-api-key'], timelineHistograms: true });
      expect(seen.length).toBeGreaterThan(0);
      expectSentAsGiven();
      expect(result.request).toEqual({ method: 'GET', headers: RECORDED, bodyBytes: 0 });
      const out = join(dir, client);
      await writeOutputs(result, { format: 'none', json: join(out, 'r.json'), csv: join(out, 'r.csv'), report: join(out, 'r.html'), hlog: join(out, 'r.hlog'), hgrm: join(out, 'hgrm') });
      const files = [...['r.json', 'r.csv', 'r.html', 'r.hlog'].map((f) => join(out, f)), ...readdirSync(join(out, 'hgrm')).map((f) => join(out, 'hgrm', f))];
      for (const file of files) expectNoSecret(readFileSync(file, 'utf8'), file);
      expect(JSON.parse(readFileSync(join(out, 'r.json'), 'utf8')).request.headers).toEqual(RECORDED);
      expectNoSecret(formatText(result), 'the text report');
      expectNoSecret(formatHttperf(result), 'the httperf block');
      // A merge of the parts keeps the redacted request and adds nothing.
      expectNoSecret(JSON.stringify(mergeResults([result])), 'a merged result');
    }, 30_000);
  }

  it('the CLI: -H and --secret-header send the real values; stdout, stderr and --json hold none of them', async () => {
    seen.length = 0;
    const json = join(dir, 'cli.json');
    const run = await tsload(['http', url, ...HEADERS.flatMap((h) => ['-H', h]), '--secret-header', 'X-API-KEY', '--rate', '50', '-d', '300ms', '--warmup', '0', '--json', json, '--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    expectSentAsGiven();
    expectNoSecret(run.stdout, 'stdout');
    expectNoSecret(run.stderr, 'stderr');
    expectNoSecret(readFileSync(json, 'utf8'), json);
    expect(JSON.parse(readFileSync(json, 'utf8')).request.headers).toEqual(RECORDED);
  }, 30_000);

  it('--secret-header naming no header given is refused (a typo would leave the real one shown), before anything is sent', async () => {
    seen.length = 0;
    await expect(runHttp({ url, rate: 10, duration: 200, headers: ['X-Api-Key: s3cr3t-key'], secretHeaders: ['X-Api-Kye'] })).rejects.toThrow(OptionsError);
    const run = await tsload(['http', url, '-H', 'X-Api-Key: s3cr3t-key', '--secret-header', 'X-Api-Kye', '-d', '200ms']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--secret-header X-Api-Kye');
    expect(seen).toEqual([]);
  }, 30_000);

  it('a malformed header or a URL with credentials is refused without echoing the secret', async () => {
    for (const options of [{ url, headers: ['Authorization Bearer s3cr3t-auth'] }, { url, headers: ['Bad Name: s3cr3t-key'] }, { url: url.replace('//', '//user:s3cr3t-auth@') }]) {
      const error = await runHttp({ ...options, rate: 10, duration: 200 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OptionsError);
      expectNoSecret((error as OptionsError).message, 'the error');
    }
  });

  it("an experiment's manifest records its HTTP workloads' secret header values redacted, as given (list or record)", () => {
    const plan = parsePlan(
      JSON.stringify({
        name: 'secrets',
        sweep: { rate: 100, duration: 1 },
        targets: ['nginx'],
        workloads: [
          { name: 'list', protocol: 'http', path: '/', options: { headers: HEADERS, secretHeaders: ['X-Api-Key'] } },
          { name: 'record', protocol: 'http', path: '/', options: { headers: { Cookie: 'sid=s3cr3t-cookie', 'X-Trace': 'shown-trace' } } },
        ],
      }),
      'json',
      { baseDir: dir },
    );
    // What the run sends: the real values.
    expect(JSON.stringify(plan)).toContain('s3cr3t-auth');
    const recorded = recordedPlan(plan);
    expectNoSecret(JSON.stringify(recorded), 'the manifest plan');
    expect(recorded.workloads[0]!.options['headers']).toEqual(['Authorization: [redacted]', 'Proxy-Authorization: [redacted]', 'Cookie: [redacted]', 'X-Api-Key: [redacted]', 'X-Trace: shown-trace']);
    expect(recorded.workloads[1]!.options['headers']).toEqual({ Cookie: '[redacted]', 'X-Trace': 'shown-trace' });
  });
});
