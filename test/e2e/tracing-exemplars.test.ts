// Traces and metrics meet: a real Prometheus (exemplar storage on) scrapes a router with two
// workers and tracing on; Prometheus asks for OpenMetrics, and the request duration histogram's
// bucket carries the sampled request's trace and span ids as an exemplar — the very span Jaeger
// holds. A scraper that asks for the Prometheus text format gets no exemplars.

import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as yaml from 'js-yaml';
import { Jaeger } from '../support/jaeger.ts';
import { startTracedBackend, type TracedBackend } from '../support/traced-backend.ts';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { routeYaml, serviceYaml } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';

const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus';
const DEADLINE_MS = 60_000;
const TRACE = '7a3c0d1e5f60718293a4b5c6d7e8f901';
const CLIENT_SPAN = '1122334455667788';

let jaeger: Jaeger;
let backend: TracedBackend;
let router: RouterProcess;
let prometheus: ChildProcess;
let promPort: number;
let dataDir: string;

test.before(async () => {
  jaeger = await Jaeger.start();
  backend = await startTracedBackend('shop', jaeger.otlpHttpUrl);
  const file = writeTempFile([serviceYaml('shop', [backend.port], { namespace: 'store' }), routeYaml('shop', 'shop.example.test', 'shop', { namespace: 'store' })].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--workers', '2', '--otlp-endpoint', jaeger.otlpHttpUrl, '--trace-batch-delay', '50ms'], env: { ROUTER_LOG_LEVEL: 'info' } });
  dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-exemplars-'));
  writeFileSync(path.join(dataDir, 'prometheus.yaml'), yaml.dump({
    global: { scrape_interval: '1s' },
    scrape_configs: [{ job_name: 'switchyard', static_configs: [{ targets: [`127.0.0.1:${router.admin}`] }] }],
  }));
  promPort = await freePort();
  prometheus = spawn(PROMETHEUS, [
    `--config.file=${path.join(dataDir, 'prometheus.yaml')}`, `--storage.tsdb.path=${path.join(dataDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn', '--enable-feature=exemplar-storage',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  prometheus.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-4000); });
  const exited = new Promise<never>((_, reject) => prometheus.once('exit', (code) => reject(new Error(`prometheus exited (${code}): ${stderr}`))));
  await Promise.race([until(async () => (await request(promPort, { path: '/-/ready' }).catch(() => null))?.status === 200, 'prometheus ready'), exited]);
});

test.after.always(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const gone = new Promise((r) => prometheus.once('exit', r));
    prometheus.kill('SIGTERM');
    await gone;
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  await router?.stop();
  await backend?.close();
  await jaeger?.stop();
});

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface ExemplarReply { status: string; data: Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string }> }> }

test('the request duration bucket of a sampled request names its trace; Prometheus stores it, Jaeger holds that span', async (t) => {
  const reply = await request(router.http, { host: 'shop.example.test', headers: { traceparent: `00-${TRACE}-${CLIENT_SPAN}-01` } });
  t.is(reply.status, 200);
  const spans = await jaeger.waitForTrace(TRACE, (s) => s.some((x) => x.service === 'switchyard' && x.kind === 'server'));
  const server = spans.find((x) => x.service === 'switchyard' && x.kind === 'server')!;
  let found: { labels: Record<string, string>; series: Record<string, string> } | undefined;
  await until(async () => {
    const now = Date.now() / 1000;
    const q = await request(promPort, { path: `/api/v1/query_exemplars?query=${encodeURIComponent('switchyard_http_request_duration_seconds_bucket')}&start=${now - 600}&end=${now + 60}` });
    const body = q.json<ExemplarReply>();
    for (const series of body.data ?? []) {
      for (const e of series.exemplars) if (e.labels.trace_id === TRACE) found = { labels: e.labels, series: series.seriesLabels };
    }
    return found !== undefined;
  }, 'the exemplar in Prometheus');
  t.is(found!.labels.span_id, server.spanId, 'the exemplar names the router\'s server span');
  t.is(found!.series.route, 'store/shop');
});

test('/metrics speaks OpenMetrics (with # EOF) to who asks for it, the Prometheus text format to the rest', async (t) => {
  // Not sampled: its bucket's exemplar stays the other test's.
  t.is((await request(router.http, { host: 'shop.example.test', headers: { traceparent: `00-${'9'.repeat(32)}-${CLIENT_SPAN}-00` } })).status, 200);
  const om = await request(router.admin, { path: '/metrics', headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' } });
  t.regex(String(om.headers['content-type']), /^application\/openmetrics-text; version=1\.0\.0/);
  t.true(om.body.endsWith('# EOF\n'));
  t.false(om.body.includes('\n\n'), 'no blank lines in OpenMetrics');
  t.regex(om.body, /^# TYPE switchyard_http_requests counter$/m);
  t.regex(om.body, /^switchyard_http_requests_total\{route="store\/shop",code_class="2xx"\} \d+$/m);
  const plain = await request(router.admin, { path: '/metrics' });
  t.regex(String(plain.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  t.false(plain.body.includes('# {'), 'no exemplars in the Prometheus text format');
  t.regex(plain.body, /^# TYPE switchyard_http_requests_total counter$/m);
});
