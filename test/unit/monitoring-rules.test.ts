// The shipped alerts and dashboard, checked by Prometheus' own tool: `promtool check rules` on the
// PrometheusRule's groups, `promtool test rules` on manifests/monitoring/tests/rules.test.yaml,
// and the Grafana ConfigMap carrying exactly the dashboard JSON. promtool comes with Debian's
// `prometheus` package (.ci/run installs it); without it these tests fail, they do not skip.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';

const MONITORING = fileURLToPath(new URL('../../manifests/monitoring/', import.meta.url));
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
const rule = yaml.load(readFileSync(path.join(MONITORING, 'prometheus-rule.yaml'), 'utf8')) as { spec: { groups: Array<{ name: string; rules: Rule[] }> } };

function promtool(args: string[], cwd: string): { status: number | null; output: string } {
  const run = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw new Error(`promtool not runnable (${run.error.message}): apt-get install prometheus, or set PROMTOOL`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** The PrometheusRule's groups as the plain rule file promtool reads, next to a copy of the rule tests. */
function ruleDir(groups = rule.spec.groups): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-rules-'));
  writeFileSync(path.join(dir, 'rules.yaml'), yaml.dump({ groups }));
  copyFileSync(path.join(MONITORING, 'tests', 'rules.test.yaml'), path.join(dir, 'rules.test.yaml'));
  return dir;
}

test('promtool check rules accepts the PrometheusRule', (t) => {
  const { status, output } = promtool(['check', 'rules', 'rules.yaml'], ruleDir());
  t.is(status, 0, output);
  t.regex(output, /SUCCESS: 10 rules found/);
});

test('the alerts cover what an operator needs', (t) => {
  const alerts = rule.spec.groups.flatMap((g) => g.rules).filter((r) => r.alert).map((r) => r.alert);
  t.deepEqual(alerts.sort(), [
    'SwitchyardCertificateExpiringSoon', 'SwitchyardConfigErrors', 'SwitchyardNotReady', 'SwitchyardRouteHighErrorRatio',
    'SwitchyardRouteNoAvailableEndpoint', 'SwitchyardRouterDown', 'SwitchyardStatusWritesFailing', 'SwitchyardWatchStale',
  ]);
  for (const r of rule.spec.groups.flatMap((g) => g.rules).filter((x) => x.alert)) {
    t.truthy(r.labels?.severity, r.alert);
    t.truthy(r.annotations?.summary && r.annotations.description, r.alert);
  }
});

test('promtool test rules: every alert fires when it should and stays quiet when it should', (t) => {
  const { status, output } = promtool(['test', 'rules', 'rules.test.yaml'], ruleDir());
  t.is(status, 0, output);
  t.regex(output, /SUCCESS/);
});

test('the rule tests can fail: a 50 % threshold misses the 10 % error ratio the tests expect', (t) => {
  const groups = structuredClone(rule.spec.groups);
  const ratio = groups.flatMap((g) => g.rules).find((r) => r.alert === 'SwitchyardRouteHighErrorRatio')!;
  ratio.expr = ratio.expr.replace('> 0.05', '> 0.5');
  const { status, output } = promtool(['test', 'rules', 'rules.test.yaml'], ruleDir(groups));
  t.not(status, 0);
  t.regex(output, /SwitchyardRouteHighErrorRatio/);
});

test('the Grafana ConfigMap carries the dashboard JSON unchanged, labelled for the sidecar', (t) => {
  const map = yaml.load(readFileSync(path.join(MONITORING, 'grafana-dashboard-configmap.yaml'), 'utf8')) as { metadata: { labels: Record<string, string> }; data: Record<string, string> };
  t.is(map.metadata.labels.grafana_dashboard, '1');
  const file = JSON.parse(readFileSync(path.join(MONITORING, 'grafana', 'switchyard-dashboard.json'), 'utf8')) as unknown;
  t.deepEqual(JSON.parse(map.data['switchyard-dashboard.json']!), file,
    'the ConfigMap is out of date: paste grafana/switchyard-dashboard.json into its data (indented by 4 spaces)');
});
