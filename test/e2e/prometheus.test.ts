// The shipped monitoring against the real thing: Debian's `prometheus` server on a loopback port
// scrapes a real router (two workers, file mode) under a little traffic, with the PrometheusRule's
// groups loaded. Every Grafana panel expression and every alert expression is evaluated through
// Prometheus' HTTP API: each must parse, and the traffic panels must return data. The router's
// /metrics passes `promtool check metrics`.

import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request } from '../support/http-client.ts';
import { freePort } from '../support/ports.ts';
import { runCommand } from '../support/run-command.ts';

const MONITORING = fileURLToPath(new URL('../../manifests/monitoring/', import.meta.url));
const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus';
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
const USER = 'prom';
const PASS = 'scrape-s3cret';
const auth = { authorization: `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}` };
/** Upper bound on waiting for Prometheus to have scraped enough (it scrapes every second). */
const DATA_DEADLINE_MS = 60_000;

interface Panel { title: string; type: string; targets?: Array<{ expr: string }> }
const dashboard = JSON.parse(readFileSync(path.join(MONITORING, 'grafana', 'switchyard-dashboard.json'), 'utf8')) as { panels: Panel[] };
const rule = yaml.load(readFileSync(path.join(MONITORING, 'prometheus-rule.yaml'), 'utf8')) as { spec: { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> } };

/** Grafana's variables as Grafana would expand them with "All" selected and a 1 s scrape interval. */
function expand(expr: string): string {
  return expr.replaceAll('$__rate_interval', '15s').replaceAll('$instance', '.*').replaceAll('$route', '.*');
}

let router: RouterProcess;
let backend: Backend;
let prometheus: ChildProcess;
let promPort: number;
let dataDir: string;
let traffic = true;
let trafficDone: Promise<void>;

test.before(async () => {
  const missing = [PROMETHEUS, PROMTOOL].filter((bin) => spawnSync(bin, ['--version'], { encoding: 'utf8' }).error);
  if (missing.length > 0) throw new Error(`not installed: ${missing.join(', ')} (apt-get install prometheus)`);
  backend = await startBackend('shop');
  const file = writeTempFile([serviceYaml('shop', [backend.port], { namespace: 'store' }), routeYaml('shop', 'shop.example.test', 'shop', { namespace: 'store' })].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--workers', '2'], env: { STATS_USERNAME: USER, STATS_PASSWORD: PASS, ROUTER_LOG_LEVEL: 'info' } });
  // A little traffic, one request at a time, some of it 5xx, until the tests are done. The first
  // one is served before any test runs: /metrics has the route's request series from the start.
  const first = await request(router.http, { host: 'shop.example.test' });
  if (first.status !== 200) throw new Error(`the first request through the router answered ${first.status}`);
  trafficDone = (async () => {
    for (let i = 0; traffic; i++) {
      await request(router.http, { host: 'shop.example.test', path: i % 5 === 0 ? '/?status=502' : '/' }).catch(() => {});
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-prometheus-'));
  writeFileSync(path.join(dataDir, 'rules.yaml'), yaml.dump({ groups: rule.spec.groups }));
  writeFileSync(path.join(dataDir, 'prometheus.yaml'), yaml.dump({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [path.join(dataDir, 'rules.yaml')],
    scrape_configs: [{
      // The job name the PodMonitor gives (namespace/name): the alerts select on it.
      job_name: 'switchyard/switchyard-router',
      basic_auth: { username: USER, password: PASS },
      static_configs: [{ targets: [`127.0.0.1:${router.admin}`] }],
    }],
  }));
  promPort = await freePort();
  prometheus = spawn(PROMETHEUS, [
    `--config.file=${path.join(dataDir, 'prometheus.yaml')}`, `--storage.tsdb.path=${path.join(dataDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  prometheus.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-4000); });
  const exited = new Promise<never>((_, reject) => prometheus.once('exit', (code) => reject(new Error(`prometheus exited (${code}): ${stderr}`))));
  await Promise.race([until(async () => (await request(promPort, { path: '/-/ready' }).catch(() => null))?.status === 200, 'prometheus ready'), exited]);
});

test.after.always(async () => {
  traffic = false;
  await trafficDone;
  if (prometheus && prometheus.exitCode === null) {
    const gone = new Promise((r) => prometheus.once('exit', r));
    prometheus.kill('SIGTERM');
    await gone;
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  await router?.stop();
  await backend?.close();
});

/** Poll `check` every 250 ms until it is true; fail naming `what` after DATA_DEADLINE_MS. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + DATA_DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface QueryReply { status: string; errorType?: string; error?: string; data?: { resultType: string; result: unknown[] } }
async function query(expr: string): Promise<QueryReply> {
  const reply = await request(promPort, { path: `/api/v1/query?query=${encodeURIComponent(expr)}` });
  return reply.json<QueryReply>();
}

test('promtool check metrics accepts /metrics (merged over the workers)', async (t) => {
  const reply = await request(router.admin, { path: '/metrics', headers: auth });
  t.is(reply.status, 200);
  t.regex(reply.body, /switchyard_http_requests_total\{route="store\/shop"/);
  t.regex(reply.body, /switchyard_certificate_expiry_timestamp_seconds\{certificate="default",route=""\} \d+/);
  const check = await runCommand(PROMTOOL, ['check', 'metrics'], { input: reply.body });
  t.is(check.status, 0, `${check.stdout}${check.stderr}`);
});

test('every dashboard panel expression parses in Prometheus; the traffic panels return data', async (t) => {
  const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((target) => ({ panel: p.title, expr: expand(target.expr) })));
  t.true(targets.length >= 20);
  for (const { panel, expr } of targets) {
    const reply = await query(expr);
    t.is(reply.status, 'success', `${panel}: ${expr}: ${reply.error}`);
  }
  // Traffic panels: everything computed from the request series. Wait (bounded) for the scrapes.
  const traffic = targets.filter((x) => x.expr.includes('switchyard_http_request'));
  t.true(traffic.length >= 8);
  const empty = async () => {
    const left = [];
    for (const target of traffic) if (((await query(target.expr)).data?.result.length ?? 0) === 0) left.push(target);
    return left;
  };
  await until(async () => (await empty()).length === 0, `data in every traffic panel (still empty: ${(await empty()).map((x) => x.panel).join(', ')})`);
  const rate = await query(expand('sum by (route) (rate(switchyard_http_requests_total{route=~"$route"}[$__rate_interval]))'));
  t.like(rate.data!.result[0], { metric: { route: 'store/shop' } });
  const ratio = (await query(expand(traffic.find((x) => x.panel === '5xx ratio per route')!.expr))).data!.result as Array<{ value: [number, string] }>;
  t.true(Number(ratio[0]!.value[1]) > 0, 'one request in five is a 502');
});

test('every alert and recording expression parses and evaluates in Prometheus', async (t) => {
  const rules = rule.spec.groups.flatMap((g) => g.rules);
  for (const r of rules) {
    const reply = await query(r.expr);
    t.is(reply.status, 'success', `${r.alert ?? r.record}: ${reply.error}`);
  }
  // Loaded as rule groups: each evaluated at least once, without error.
  await until(async () => {
    const groups = (await request(promPort, { path: '/api/v1/rules' })).json<{ data: { groups: Array<{ rules: Array<{ health: string; lastEvaluation: string }> }> } }>().data.groups;
    const all = groups.flatMap((g) => g.rules);
    return all.length === rules.length && all.every((r) => r.health === 'ok');
  }, 'every rule evaluated with health ok');
  // The router is scraped and ready, so these alerts' conditions are false…
  for (const alert of ['SwitchyardRouterDown', 'SwitchyardNotReady', 'SwitchyardRouteNoAvailableEndpoint']) {
    const expr = rules.find((r) => r.alert === alert)!.expr;
    t.deepEqual((await query(expr)).data!.result, [], alert);
  }
  // …and the series they watch exist (a typo in a metric name would also give an empty result).
  for (const series of ['up{job="switchyard/switchyard-router"}', 'switchyard_ready', 'switchyard_route_endpoints_available{route="store/shop"}', 'switchyard_certificate_expiry_timestamp_seconds', 'switchyard:route_requests:rate5m']) {
    await until(async () => ((await query(series)).data?.result.length ?? 0) > 0, series);
    t.pass(series);
  }
});
