// The deployable manifests against a real kube-apiserver (test/support/real-apiserver.ts): every
// kustomization under manifests/ is accepted by `kubectl apply -k --server-side
// --validate=strict`, manifests/monitoring against the Prometheus Operator's own CRDs (its
// pinned release, test/tools/prometheus-operator-crds), every example object passes the CRD
// schemas, the API server itself refuses an invalid Route, the aggregated ClusterRoles give
// namespace editors and viewers the Route and Middleware rights, and the overlays are what they
// must be once applied.
//
// The cluster is a strict one: kube-apiserver's own default --allow-privileged=false, and Pod
// Security "restricted" for every namespace without a label of its own. The router's manifests
// must apply there as they are; only the opt-in components/tcp-migrate-req needs privileged.

import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import { parseConfig } from '../../src/config.ts';
import { eventually } from '../support/http-client.ts';
import { requireTool } from '../support/go-tools.ts';
import { kubectlKustomize, startRealCluster, type RealCluster } from '../support/real-apiserver.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MANIFESTS = path.join(REPO, 'manifests');
/** The Prometheus Operator's CRDs for what manifests/monitoring uses, from its pinned release. */
const PROMETHEUS_OPERATOR_CRDS = ['podmonitors', 'prometheusrules'].map((plural) => requireTool('prometheus-operator-crds', `monitoring.coreos.com_${plural}.yaml`));

let cluster: RealCluster;
let scratch: string;

test.before(async (t) => {
  t.timeout(240_000);
  scratch = mkdtempSync(path.join(tmpdir(), 'switchyard-manifests-'));
  // Pod Security for namespaces without labels: "restricted", the level a careful cluster sets.
  const admission = path.join(scratch, 'admission.yaml');
  writeFileSync(admission, yaml.dump({
    apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AdmissionConfiguration',
    plugins: [{
      name: 'PodSecurity',
      configuration: {
        apiVersion: 'pod-security.admission.config.k8s.io/v1', kind: 'PodSecurityConfiguration',
        defaults: { enforce: 'restricted', 'enforce-version': 'latest', warn: 'restricted', 'warn-version': 'latest', audit: 'restricted', 'audit-version': 'latest' },
        exemptions: { usernames: [], runtimeClasses: [], namespaces: [] },
      },
    }],
  }));
  // --allow-privileged=false is kube-apiserver's default (the harness turns it on as kubeadm does).
  cluster = await startRealCluster({ apiServerArgs: ['--allow-privileged=false', '--admission-control-config-file', admission] });
});
test.after.always(async () => {
  await cluster?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Every directory under manifests/ with a kustomization.yaml that is not a Component, relative to manifests/. */
function kustomizations(dir = MANIFESTS): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) found.push(...kustomizations(full));
    else if (entry === 'kustomization.yaml' && (yaml.load(readFileSync(full, 'utf8')) as { kind?: string }).kind !== 'Component') {
      found.push(path.relative(MANIFESTS, dir) || '.');
    }
  }
  return found.sort();
}

/** A kustomization in the scratch directory: `resources` and `components` relative to manifests/. */
function overlay(name: string, resources: string[], components: string[] = []): string {
  const target = mkdtempSync(path.join(scratch, `${name}-`));
  writeFileSync(path.join(target, 'kustomization.yaml'), yaml.dump({
    apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization',
    resources: resources.map((r) => path.relative(target, path.join(MANIFESTS, r))),
    components: components.map((c) => path.relative(target, path.join(MANIFESTS, c))),
  }));
  return target;
}

/** Apply order: the CRDs and the router first; what builds on them after. */
const rank = (d: string) => (d === '.' ? 0 : d === 'crd' || d.startsWith('crd/') || d === 'base' ? 1 : 2);
function applyOrder(dirs: string[]): string[] {
  return [...dirs].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

const routeYaml = (name: string, spec: Record<string, unknown>) => yaml.dump({
  apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name, namespace: 'default' }, spec,
});

test.serial('kubectl apply -k of every kustomization under manifests/ is accepted with server-side strict validation', async (t) => {
  const dirs = kustomizations();
  t.true(dirs.includes('.') && dirs.includes('overlays/openshift') && dirs.includes('overlays/shard-b') && dirs.includes('examples/autoport'), dirs.join(' '));
  // manifests/monitoring needs the Prometheus Operator's PodMonitor and PrometheusRule kinds:
  // its own CRDs, whose schemas check every field (strict validation refuses unknown ones).
  await cluster.apply({ files: PROMETHEUS_OPERATOR_CRDS });
  let crdsEstablished = false;
  for (const dir of applyOrder(dirs)) {
    if (!crdsEstablished && rank(dir) === 2) {
      await cluster.waitEstablished('routes.route.openshift.io', 'middlewares.switchyard.io', 'podmonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com');
      crdsEstablished = true;
    }
    const out = await cluster.apply({ kustomization: path.join(MANIFESTS, dir) });
    t.regex(out, /serverside-applied/, dir);
  }
  // What was applied is there: the router's objects and an example Route, as the server keeps them.
  const ds = await cluster.must('GET', '/apis/apps/v1/namespaces/switchyard/daemonsets/switchyard-router');
  t.is(ds.spec.template.spec.serviceAccountName, 'switchyard-router');
  const weighted = await cluster.must('GET', '/apis/route.openshift.io/v1/namespaces/demo/routes');
  t.true(weighted.items.length > 0);
});

test.serial('every example object in examples/ passes the server\'s schemas (a dry run), EndpointSlices aside', async (t) => {
  const files = readdirSync(path.join(REPO, 'examples')).filter((f) => /\.ya?ml$/.test(f));
  t.true(files.length > 0);
  for (const file of files) {
    const docs = (yaml.loadAll(readFileSync(path.join(REPO, 'examples', file), 'utf8')) as Array<Record<string, any>>).filter(Boolean);
    for (const ns of new Set(docs.map((d) => d.metadata?.namespace).filter(Boolean))) {
      await cluster.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    }
    // The file source's demo points EndpointSlices at 127.0.0.1, which a real API server refuses
    // for any EndpointSlice: those stay file-source-only, and the refusal is the documented one.
    const slices = docs.filter((d) => d.kind === 'EndpointSlice');
    const others = docs.filter((d) => d.kind !== 'EndpointSlice');
    const r = await cluster.kubectl(['apply', '--server-side', '--dry-run=server', '--validate=strict', '-f', '-'],
      { input: others.map((d) => yaml.dump(d)).join('---\n') });
    t.is(r.code, 0, `${file}: ${r.stderr}`);
    t.is(r.stdout.trim().split('\n').length, others.length, r.stdout);
    for (const slice of slices) {
      const s = await cluster.kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: yaml.dump(slice) });
      t.regex(s.stderr, /may not be in the loopback range/, `${file} ${slice.metadata.name}`);
    }
  }
});

test('the API server refuses an invalid Route: termination "bogus", weight 300', async (t) => {
  const bad = await cluster.kubectl(['apply', '--server-side', '--validate=strict', '-f', '-'], {
    input: routeYaml('bad', { host: 'bad.example.com', to: { kind: 'Service', name: 'web', weight: 300 }, tls: { termination: 'bogus' } }),
  });
  t.not(bad.code, 0);
  t.regex(bad.stderr, /spec\.to\.weight: Invalid value: 300/);
  t.regex(bad.stderr, /spec\.tls\.termination: Unsupported value: "bogus"/);
  const unknown = await cluster.kubectl(['apply', '--server-side', '--validate=strict', '-f', '-'], {
    input: routeYaml('typo', { host: 'typo.example.com', to: { kind: 'Service', name: 'web' }, tlss: {} }),
  });
  t.not(unknown.code, 0);
  t.regex(unknown.stderr, /\.spec\.tlss: field not declared in schema/);
  const absent = await cluster.api('GET', '/apis/route.openshift.io/v1/namespaces/default/routes/bad');
  t.is(absent.status, 404, 'nothing of the refused Route was stored');
});

// A Route using every field, then one defect at a time: the API server, with the CRD's schema,
// must accept the first and refuse each other, naming the field. (Dry runs: nothing is stored.)
const validRoute = {
  apiVersion: 'route.openshift.io/v1',
  kind: 'Route',
  metadata: { name: 'r', namespace: 'default' },
  spec: {
    host: 'www.example.com', path: '/api', to: { kind: 'Service', name: 'web', weight: 100 },
    alternateBackends: [{ kind: '', name: 'web2', weight: 0 }],
    port: { targetPort: 8080 }, wildcardPolicy: 'None',
    tls: { termination: 'reencrypt', insecureEdgeTerminationPolicy: 'Redirect', destinationCACertificate: 'pem', externalCertificate: { name: 'cert' } },
  },
};
type Json = any;
const invalidRoutes: Array<[string, (spec: Json) => void, RegExp]> = [
  ['upper-case host', (s) => { s.host = 'WWW.example.com'; }, /spec\.host/],
  ['host label with underscore', (s) => { s.host = 'a_b.example.com'; }, /spec\.host/],
  ['host longer than 253', (s) => { s.host = `${'a'.repeat(60)}.`.repeat(5) + 'com'; }, /spec\.host/],
  ['path without leading slash', (s) => { s.path = 'api'; }, /spec\.path/],
  ['negative weight', (s) => { s.to.weight = -1; }, /spec\.to\.weight/],
  ['to without name', (s) => { delete s.to.name; }, /spec\.to\.name: Required/],
  ['to of kind Deployment', (s) => { s.to.kind = 'Deployment'; }, /spec\.to\.kind/],
  ['four alternate backends', (s) => { s.alternateBackends = [1, 2, 3, 4].map((i) => ({ kind: 'Service', name: `b${i}` })); }, /spec\.alternateBackends: Too many/],
  ['alternate backend weight 257', (s) => { s.alternateBackends[0].weight = 257; }, /spec\.alternateBackends\[0\]\.weight/],
  ['targetPort boolean', (s) => { s.port.targetPort = true; }, /spec\.port\.targetPort/],
  ['tls without termination', (s) => { delete s.tls.termination; }, /spec\.tls\.termination: Required/],
  ['insecure policy Deny', (s) => { s.tls.insecureEdgeTerminationPolicy = 'Deny'; }, /spec\.tls\.insecureEdgeTerminationPolicy/],
  ['wildcardPolicy All', (s) => { s.wildcardPolicy = 'All'; }, /spec\.wildcardPolicy/],
  ['unknown spec field', (s) => { s.hots = 'typo.example.com'; }, /unknown field "spec\.hots"/],
  ['missing to', (s) => { delete s.to; }, /spec\.to: Required/],
];
const dryRunCreate = (route: unknown) => cluster.api('POST', '/apis/route.openshift.io/v1/namespaces/default/routes', route, { query: { dryRun: 'All', fieldValidation: 'Strict' } });

test('the Route CRD accepts a Route using every field', async (t) => {
  const full = await dryRunCreate(validRoute);
  t.is(full.status, 201, JSON.stringify(full.body));
  const named = structuredClone(validRoute) as Json;
  named.spec.port.targetPort = 'https';
  delete named.spec.tls;
  t.is((await dryRunCreate(named)).status, 201);
});

for (const [name, mutate, expected] of invalidRoutes) {
  test(`the API server refuses a Route with ${name}`, async (t) => {
    const route = structuredClone(validRoute) as Json;
    mutate(route.spec);
    const reply = await dryRunCreate(route);
    t.true(reply.status === 422 || reply.status === 400, `${reply.status}`);
    t.regex(reply.body.message, expected);
  });
}

test('the Middleware CRD: spec.plugin required and a lower-case name, config any object', async (t) => {
  const create = (spec: unknown) => cluster.api('POST', '/apis/switchyard.io/v1alpha1/namespaces/default/middlewares',
    { apiVersion: 'switchyard.io/v1alpha1', kind: 'Middleware', metadata: { name: 'auth' }, spec }, { query: { dryRun: 'All', fieldValidation: 'Strict' } });
  const ok = await create({ plugin: 'api-key', config: { keys: ['a'], nested: { x: 1 } } });
  t.is(ok.status, 201, JSON.stringify(ok.body));
  const missing = await create({ config: {} });
  t.is(missing.status, 422);
  t.regex(missing.body.message, /spec\.plugin: Required/);
  const badName = await create({ plugin: 'Bad_Name' });
  t.is(badName.status, 422);
  t.regex(badName.body.message, /spec\.plugin/);
});

test('aggregated ClusterRoles: namespace editors manage Routes and Middlewares, viewers only read them', async (t) => {
  await cluster.apply({ yaml: `
apiVersion: v1
kind: Namespace
metadata: { name: team-a }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: editor, namespace: team-a }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: viewer, namespace: team-a }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: editor, namespace: team-a }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit }
subjects: [{ kind: ServiceAccount, name: editor, namespace: team-a }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: viewer, namespace: team-a }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects: [{ kind: ServiceAccount, name: viewer, namespace: team-a }]
` });
  // The aggregated roles come from the first test's `kubectl apply -k manifests/` (crd/).
  const editor = (await cluster.serviceAccountKubeconfig('team-a', 'editor')).token;
  const viewer = (await cluster.serviceAccountKubeconfig('team-a', 'viewer')).token;
  const routes = { group: 'route.openshift.io', resource: 'routes', namespace: 'team-a' };
  const middlewares = { group: 'switchyard.io', resource: 'middlewares', namespace: 'team-a' };
  // The aggregation controller folds the labelled ClusterRoles into edit/view asynchronously.
  await eventually(async () => {
    if (!(await cluster.can(editor, { verb: 'create', ...routes }))) throw new Error('edit does not include routes yet');
    if (!(await cluster.can(viewer, { verb: 'list', ...middlewares }))) throw new Error('view does not include middlewares yet');
    return true;
  }, 30_000, 250);
  for (const verb of ['create', 'update', 'delete', 'get', 'list', 'watch']) {
    t.true(await cluster.can(editor, { verb, ...routes }), `editor ${verb} routes`);
    t.true(await cluster.can(editor, { verb, ...middlewares }), `editor ${verb} middlewares`);
  }
  for (const verb of ['get', 'list', 'watch']) {
    t.true(await cluster.can(viewer, { verb, ...routes }), `viewer ${verb} routes`);
    t.true(await cluster.can(viewer, { verb, ...middlewares }), `viewer ${verb} middlewares`);
  }
  for (const verb of ['create', 'update', 'delete']) {
    t.false(await cluster.can(viewer, { verb, ...routes }), `viewer ${verb} routes`);
    t.false(await cluster.can(viewer, { verb, ...middlewares }), `viewer ${verb} middlewares`);
  }
  t.false(await cluster.can(editor, { verb: 'update', ...routes, subresource: 'status' }), 'status is the router\'s');
  t.false(await cluster.can(editor, { verb: 'create', ...routes, namespace: 'default' }), 'only in the bound namespace');
  // And for real: the editor creates a Route with its own token.
  const created = await cluster.api('POST', '/apis/route.openshift.io/v1/namespaces/team-a/routes', {
    apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: 'mine' }, spec: { host: 'mine.example.com', to: { kind: 'Service', name: 'web' } },
  }, { token: editor });
  t.is(created.status, 201, JSON.stringify(created.body));
});

test.serial('overlays as applied: OpenShift router is not named "default"; shard-b is a patch without a fixed UID', async (t) => {
  // The first test applied overlays/openshift over the base DaemonSet, then shard-b beside it.
  // Literal values only; the stats credential files exist only in a pod.
  const envOf = (ds: any) => ({
    ...Object.fromEntries((ds.spec.template.spec.containers[0].env as any[]).filter((e) => e.value !== undefined).map((e) => [e.name, e.value])),
    STATS_USERNAME_FILE: '', STATS_PASSWORD_FILE: '',
  });
  const openshift = await cluster.must('GET', '/apis/apps/v1/namespaces/switchyard/daemonsets/switchyard-router');
  const openshiftConfig = parseConfig([], envOf(openshift));
  t.not(openshiftConfig.routerName, 'default', 'OpenShift\'s own IngressController is "default"');
  t.is(openshiftConfig.routerName, 'switchyard');
  t.is(openshift.spec.template.spec.securityContext.runAsUser, undefined);
  const shard = await cluster.must('GET', '/apis/apps/v1/namespaces/switchyard/daemonsets/switchyard-router-shard-b');
  const shardConfig = parseConfig([], envOf(shard));
  t.like(shardConfig, { routerName: 'shard-b', routeLabels: 'shard=b', leaseName: 'switchyard-shard-b' });
  t.is(shard.spec.template.spec.securityContext.runAsUser, undefined, 'the host-network SCC assigns the UID');
  t.is(shard.spec.template.spec.securityContext.runAsGroup, undefined);
  t.true(shard.spec.template.spec.securityContext.runAsNonRoot);
  t.deepEqual(shard.spec.template.spec.nodeSelector, { 'node-role.kubernetes.io/edge-shard-b': '' });
  t.deepEqual(shard.spec.selector.matchLabels['app.kubernetes.io/instance'], 'shard-b');
  // Everything else is the base router's: same image, args, ports, probes, resources.
  const base = yaml.loadAll(readFileSync(path.join(MANIFESTS, 'base/daemonset.yaml'), 'utf8'))[0] as any;
  const pick = (c: any) => ({ image: c.image, args: c.args, ports: c.ports?.map((p: any) => p.containerPort), resources: c.resources, probes: [c.livenessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.path] });
  t.deepEqual(pick(shard.spec.template.spec.containers[0]), pick(base.spec.template.spec.containers[0]));
});

test.serial('the opt-in components/tcp-migrate-req is what needs privileged: an API server with --allow-privileged=false refuses it, naming why', async (t) => {
  // The router itself applied above on this very cluster; with the component, the DaemonSet is refused.
  const withSysctl = overlay('tcp-migrate-req', ['.'], ['components/tcp-migrate-req']);
  const r = await cluster.kubectl(['apply', '--server-side', '--field-manager=switchyard-test', '--dry-run=server', '--validate=strict', '-k', withSysctl]);
  t.not(r.code, 0);
  t.regex(r.stderr, /initContainers\[0\]\.securityContext\.privileged: Forbidden: disallowed by cluster policy/);
});

test.serial('components/tracing over the router is accepted with server-side strict validation', async (t) => {
  const withTracing = overlay('tracing', ['.'], ['components/tracing']);
  const r = await cluster.kubectl(['apply', '--server-side', '--field-manager=switchyard-test', '--dry-run=server', '--validate=strict', '-k', withTracing]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /daemonset\.apps\/switchyard-router serverside-applied/);
});

test.serial('Pod Security: the router pod is admitted in its own namespace (labelled privileged), refused where the cluster default (restricted) applies', async (t) => {
  // The DaemonSet controller would create this pod; the admission decision is the API server's.
  const ds = kubectlKustomize(MANIFESTS).find((o) => o.kind === 'DaemonSet')!;
  const pod = (namespace: string) => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'switchyard-router-probe', namespace, labels: ds.spec.template.metadata.labels },
    spec: { ...ds.spec.template.spec, nodeName: 'edge-1' },
  });
  const admitted = await cluster.api('POST', '/api/v1/namespaces/switchyard/pods', pod('switchyard'), { query: { dryRun: 'All' } });
  t.is(admitted.status, 201, JSON.stringify(admitted.body));
  await cluster.must('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'unlabelled' } });
  const refused = await cluster.api('POST', '/api/v1/namespaces/unlabelled/pods', pod('unlabelled'), { query: { dryRun: 'All' } });
  t.is(refused.status, 403);
  t.regex(refused.body.message, /violates PodSecurity "restricted:latest": host namespaces \(hostNetwork=true\)/);
});

test.serial('the Prometheus Operator CRDs are its real schemas: a PodMonitor with a misspelt field or a bad relabel action is refused', async (t) => {
  const monitor = kubectlKustomize(path.join(MANIFESTS, 'monitoring')).find((o) => o.kind === 'PodMonitor')!;
  const apply = (object: unknown) => cluster.kubectl(['apply', '--server-side', '--field-manager=switchyard-test', '--dry-run=server', '--validate=strict', '-f', '-'], { input: yaml.dump(object) });
  t.is((await apply(monitor)).code, 0);
  const typo = structuredClone(monitor);
  typo.spec.podMetricsEndpoints[0].intervall = '30s';
  const typoReply = await apply(typo);
  t.not(typoReply.code, 0);
  t.regex(typoReply.stderr, /intervall: field not declared in schema/);
  const badAction = structuredClone(monitor);
  badAction.spec.podMetricsEndpoints[0].relabelings[0].action = 'kept';
  const actionReply = await apply(badAction);
  t.not(actionReply.code, 0);
  t.regex(actionReply.stderr, /relabelings\[0\]\.action: Unsupported value: "kept"/);
});
