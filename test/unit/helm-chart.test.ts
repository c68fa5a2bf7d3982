// The Helm chart (charts/switchyard) with a real Helm (v4, test/tools/helm): `helm lint --strict`
// of every documented variant, values checked by values.schema.json, and no drift from
// manifests/ — each variant renders the very objects its kustomization builds (less the
// Namespace, which a chart does not own; less the labels and annotations only Helm adds).
// Whether the API server accepts them, and a router installed by the chart serving under its
// RBAC: test/real/helm-chart.test.ts.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { requireTool } from '../support/go-tools.ts';
import { kubectlKustomize, type Manifest } from '../support/real-apiserver.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(REPO, 'charts/switchyard');
const MANIFESTS = join(REPO, 'manifests');
const HELM = requireTool('helm');

type Json = any;

function helm(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(HELM, args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HELM_CACHE_HOME: join(tmpdir(), 'switchyard-helm-cache'), HELM_CONFIG_HOME: join(tmpdir(), 'switchyard-helm-config') } });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` of the chart (CRDs included) as objects; throws with Helm's error. */
function render(options: { values?: string[]; set?: string[]; namespace?: string } = {}): Manifest[] {
  const args = ['template', 'switchyard', CHART, '--namespace', options.namespace ?? 'switchyard', '--include-crds'];
  for (const v of options.values ?? []) args.push('--values', join(CHART, 'ci', v));
  for (const s of options.set ?? []) args.push('--set', s);
  const r = helm(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr}`);
  return (yaml.loadAll(r.stdout) as Manifest[]).filter((o) => o !== null);
}

const id = (o: Manifest) => `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

/** What only Helm adds goes; what kustomize and Helm order differently is put in one order. */
function normalise(objects: Manifest[]): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const original of objects) {
    const o = structuredClone(original) as Json;
    for (const key of ['helm.sh/chart', 'app.kubernetes.io/managed-by']) delete o.metadata.labels?.[key];
    delete o.metadata.annotations?.['helm.sh/resource-policy'];
    if (o.metadata.annotations && Object.keys(o.metadata.annotations).length === 0) delete o.metadata.annotations;
    if (o.kind === 'DaemonSet') {
      // A strategic-merge patch puts the env entries it sets first: compare them by name.
      for (const c of o.spec.template.spec.containers) c.env = Object.fromEntries((c.env as Json[]).map((e) => [e.name, e]));
    }
    if (o.kind === 'ConfigMap' && o.data?.['switchyard-dashboard.json']) o.data['switchyard-dashboard.json'] = JSON.parse(o.data['switchyard-dashboard.json']);
    out.set(id(original), o);
  }
  return out;
}

function kustomized(dir: string, options: { components?: string[] } = {}): Manifest[] {
  if (!options.components) return kubectlKustomize(join(MANIFESTS, dir));
  const tmp = mkdtempSync(join(tmpdir(), 'switchyard-kustomize-'));
  try {
    writeFileSync(join(tmp, 'kustomization.yaml'), yaml.dump({
      apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization',
      resources: [relative(tmp, join(MANIFESTS, dir))],
      components: options.components.map((c) => relative(tmp, join(MANIFESTS, c))),
    }));
    return kubectlKustomize(tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Object by object: the same ids, and each object equal. */
function assertSameObjects(t: Json, chart: Manifest[], manifests: Manifest[], what: string): void {
  const a = normalise(chart);
  const b = normalise(manifests);
  t.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), `${what}: the same objects`);
  for (const [key, object] of b) if (a.has(key)) t.deepEqual(a.get(key), object, `${what}: ${key}`);
}

const withoutNamespace = (objects: Manifest[]) => objects.filter((o) => o.kind !== 'Namespace');
const VARIANTS = readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('-values.yaml')).sort();

test('helm lint --strict passes for the default values and every documented variant (ci/*-values.yaml)', (t) => {
  t.deepEqual(VARIANTS, ['kube-relay-values.yaml', 'monitoring-values.yaml', 'openshift-values.yaml', 'shard-b-values.yaml', 'tcp-migrate-req-values.yaml', 'tracing-values.yaml']);
  for (const variant of [undefined, ...VARIANTS]) {
    const r = helm(['lint', '--strict', CHART, ...(variant ? ['--values', join(CHART, 'ci', variant)] : [])]);
    t.is(r.code, 0, `${variant ?? 'defaults'}: ${r.stdout}${r.stderr}`);
    t.regex(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test('default values render exactly manifests/ (kubectl apply -k manifests/), the Namespace aside', (t) => {
  assertSameObjects(t, render(), withoutNamespace(kustomized('.')), 'defaults');
});

test('ci/openshift-values.yaml renders exactly manifests/overlays/openshift: Middleware CRD, no Route CRD', (t) => {
  const chart = render({ values: ['openshift-values.yaml'] });
  assertSameObjects(t, chart, withoutNamespace(kustomized('overlays/openshift')), 'openshift');
  t.true(chart.some((o) => o.metadata.name === 'middlewares.switchyard.io'));
  t.false(chart.some((o) => o.metadata.name === 'routes.route.openshift.io'));
});

test('ci/tcp-migrate-req-values.yaml renders exactly manifests/ with components/tcp-migrate-req', (t) => {
  assertSameObjects(t, render({ values: ['tcp-migrate-req-values.yaml'] }), withoutNamespace(kustomized('.', { components: ['components/tcp-migrate-req'] })), 'tcp-migrate-req');
});

test('ci/tracing-values.yaml renders exactly manifests/ with components/tracing', (t) => {
  assertSameObjects(t, render({ values: ['tracing-values.yaml'] }), withoutNamespace(kustomized('.', { components: ['components/tracing'] })), 'tracing');
});

test('tracing values: another collector, gRPC, another sampler; $(VAR)s only after the entries they name', (t) => {
  const ds = render({ set: ['tracing.enabled=true', 'tracing.endpoint=http://otel-collector.observability.svc:4317', 'tracing.protocol=grpc', 'tracing.sampler=always_on', 'tracing.samplerArg=1'] })
    .find((o) => o.kind === 'DaemonSet') as Json;
  const env = ds.spec.template.spec.containers[0].env as Json[];
  const value = (name: string) => env.find((e) => e.name === name)?.value;
  t.is(value('OTEL_EXPORTER_OTLP_ENDPOINT'), 'http://otel-collector.observability.svc:4317');
  t.is(value('OTEL_EXPORTER_OTLP_PROTOCOL'), 'grpc');
  t.is(value('OTEL_TRACES_SAMPLER'), 'always_on');
  t.is(value('OTEL_TRACES_SAMPLER_ARG'), '1');
  const names = env.map((e) => e.name as string);
  for (const e of env) {
    for (const [, ref] of String(e.value ?? '').matchAll(/\$\(([A-Z_]+)\)/g)) t.true(names.indexOf(ref!) < names.indexOf(e.name), `${e.name} uses ${ref} defined before it`);
  }
  const refused = (set: string[]) => t.throws(() => render({ set })).message;
  t.regex(refused(['tracing.protocol=http/json']), /\/tracing\/protocol/);
  t.regex(refused(['tracing.samplerArg=2']), /\/tracing\/samplerArg/);
  t.regex(refused(['tracing.endpoint=collector:4318']), /\/tracing\/endpoint/);
});

test('ci/kube-relay-values.yaml renders exactly manifests/overlays/kube-relay: the relay, and the routers\' kubeconfig pointing at it', (t) => {
  assertSameObjects(t, render({ values: ['kube-relay-values.yaml'] }), withoutNamespace(kustomized('overlays/kube-relay')), 'kube-relay');
});

test('ci/monitoring-values.yaml adds exactly manifests/monitoring', (t) => {
  assertSameObjects(t, render({ values: ['monitoring-values.yaml'] }), [...withoutNamespace(kustomized('.')), ...kustomized('monitoring')], 'monitoring');
});

test('ci/shard-b-values.yaml, a second release, renders the DaemonSet of manifests/overlays/shard-b and nothing the first release owns', (t) => {
  const chart = render({ values: ['shard-b-values.yaml'] });
  // crds/ is rendered by --include-crds; Helm skips a CRD that exists at install.
  t.deepEqual(chart.map(id).sort(), ['CustomResourceDefinition/middlewares.switchyard.io', 'DaemonSet/switchyard/switchyard-router-shard-b']);
  const overlay = kustomized('overlays/shard-b').filter((o) => o.kind === 'DaemonSet');
  assertSameObjects(t, chart.filter((o) => o.kind === 'DaemonSet'), overlay, 'shard-b');
});

test('the release namespace is used everywhere: bindings, POD_NAMESPACE, the alerts\' job name', (t) => {
  const chart = render({ namespace: 'edge', values: ['monitoring-values.yaml'] });
  for (const o of chart) {
    const namespaced = !['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind);
    t.is(o.metadata.namespace, namespaced ? 'edge' : undefined, id(o));
  }
  const binding = chart.find((o) => o.kind === 'ClusterRoleBinding') as Json;
  t.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'switchyard-router', namespace: 'edge' }]);
  const rule = chart.find((o) => o.kind === 'PrometheusRule') as Json;
  const exprs = (rule.spec.groups as Json[]).flatMap((g) => g.rules.map((r: Json) => r.expr as string)).join('\n');
  t.true(exprs.includes('job="edge/switchyard-router"'));
  t.false(exprs.includes('job="switchyard/'));
});

test('values.schema.json refuses a misspelt key, a bad port, a bad duration; the chart refuses what cannot work, saying why', (t) => {
  const refused = (set: string[]) => t.throws(() => render({ set })).message;
  t.regex(refused(['router.nmae=x']), /additional properties 'nmae' not allowed/);
  t.regex(refused(['ports.http=70000']), /\/ports\/http/);
  t.regex(refused(['router.drainTimeout=soon']), /\/router\/drainTimeout/);
  t.regex(refused(['openshift.enabled=true']), /router\.name must not be "default" with openshift\.enabled/);
  t.regex(refused(['openshift.enabled=true', 'router.name=switchyard', 'tcpMigrateReq.initContainer=true']), /hostnetwork-v2 SCC refuses/);
});

test('values: every key in values.yaml is in values.schema.json and the chart README, and the other way round', (t) => {
  const values = yaml.load(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Json;
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Json;
  const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
  // Leaf paths of values.yaml (objects with free-form keys - nodeSelector, resources, podSecurityContext - are leaves).
  const FREE_FORM = new Set(['nodeSelector', 'resources', 'podSecurityContext']);
  const leaves = (o: Json, prefix = ''): string[] => Object.entries(o).flatMap(([k, v]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return v && typeof v === 'object' && !Array.isArray(v) && !FREE_FORM.has(p) ? leaves(v, p) : [p];
  });
  const schemaLeaves = (s: Json, prefix = ''): string[] => Object.entries(s.properties ?? {}).flatMap(([k, v]: [string, Json]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return v.properties && !FREE_FORM.has(p) ? schemaLeaves(v, p) : [p];
  });
  const inValues = leaves(values).sort();
  t.deepEqual(schemaLeaves(schema).filter((p) => p !== 'global').sort(), inValues);
  for (const p of inValues) t.true(readme.includes(`\`${p}\``), `charts/switchyard/README.md documents ${p}`);
});

test('files/ and crds/ are verbatim copies of manifests/ (copy them again after editing manifests/)', (t) => {
  const copies: Array<[string, string]> = [
    ['crds/middleware-crd.yaml', 'crd/middleware/middleware-crd.yaml'],
    ['files/middleware-roles.yaml', 'crd/middleware/middleware-roles.yaml'],
    ['files/route-crd.yaml', 'crd/route/route-crd.yaml'],
    ['files/route-roles.yaml', 'crd/route/route-roles.yaml'],
    ['files/prometheus-rule.yaml', 'monitoring/prometheus-rule.yaml'],
    ['files/switchyard-dashboard.json', 'monitoring/grafana/switchyard-dashboard.json'],
  ];
  for (const [copy, original] of copies) {
    t.is(readFileSync(join(CHART, copy), 'utf8'), readFileSync(join(MANIFESTS, original), 'utf8'), `cp manifests/${original} charts/switchyard/${copy}`);
  }
  t.deepEqual(readdirSync(join(CHART, 'files')).sort(), copies.filter(([c]) => c.startsWith('files/')).map(([c]) => c.slice('files/'.length)).sort());
});
