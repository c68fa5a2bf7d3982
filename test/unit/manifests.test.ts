// The deployable manifests as `kubectl kustomize` builds them (the suite's kubectl, from
// test/k8s/build-binaries.sh): every kustomization builds, and the properties the router depends
// on are what they must be. Whether the API server accepts them - schemas, the Route CRD's
// validation, RBAC in effect - is test/real/manifests.test.ts and test/real/router-rbac.test.ts,
// against a real kube-apiserver.

import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import * as yaml from 'js-yaml';
import { OPTIONS, parseConfig, parseDuration } from '../../src/config.ts';
import { API_VERSION } from '../../src/objects/types.ts';
import { gatewayResources, podResource, secretResource, watchedResources } from '../../src/sources/watched-resources.ts';
import { kubectlKustomize, type Manifest } from '../support/real-apiserver.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MANIFESTS = join(REPO, 'manifests');
/** Every kustomization this test builds, relative to manifests/. */
const KUSTOMIZATIONS = ['.', 'base', 'crd', 'crd/route', 'crd/middleware', 'overlays/openshift', 'overlays/shard-b', 'monitoring', 'examples', 'kube-relay', 'overlays/kube-relay'] as const;
/** Kustomize components (opt-in parts an overlay adds with `components:`), relative to manifests/. */
const COMPONENTS = ['components/tcp-migrate-req', 'components/tracing'] as const;
/** Another engineer's example, with its own test; promtool's rule tests (not Kubernetes objects, see monitoring-rules.test.ts). */
const NOT_OURS = ['examples/autoport', 'monitoring/tests'];

const manifestId = (o: Manifest) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

const builds = new Map<string, Manifest[]>();
function build(dir: (typeof KUSTOMIZATIONS)[number]): Manifest[] {
  let objects = builds.get(dir);
  if (!objects) {
    objects = kubectlKustomize(join(MANIFESTS, dir));
    builds.set(dir, objects);
  }
  return structuredClone(objects);
}

function find(objects: Manifest[], kind: string, name?: string): Manifest {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0]!;
}

// Loosely typed views of the objects the assertions read.
type Json = any;

function routerDaemonSet(dir: '.' | 'overlays/shard-b' = '.'): Json {
  return find(build(dir), 'DaemonSet');
}

function container(ds: Json): Json {
  return ds.spec.template.spec.containers[0];
}

/** The container's env as the router sees it: literal values, downward API and Secret refs filled in. */
function envOf(ds: Json): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container(ds).env as Json[]) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = ds.metadata.namespace;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = 'edge-node-1';
    else if (e.valueFrom?.secretKeyRef) env[e.name] = `secret:${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
    else throw new Error(`env ${e.name}: unexpected source`);
  }
  return env;
}

// ---------------------------------------------------------------------------------------------

test('every kustomization builds and its objects are unique', (t) => {
  const found = (readdirSync(MANIFESTS, { recursive: true }) as string[])
    .filter((f) => /(^|\/)kustomization\.yaml$/.test(f)).map((f) => f.replace(/\/?kustomization\.yaml$/, '') || '.')
    .filter((d) => !NOT_OURS.includes(d));
  t.deepEqual(found.sort(), [...KUSTOMIZATIONS, ...COMPONENTS].sort(), 'every kustomization under manifests/ is listed here');
  for (const dir of KUSTOMIZATIONS) {
    const objects = build(dir);
    t.true(objects.length > 0, dir);
    const ids = objects.map(manifestId);
    t.is(new Set(ids).size, ids.length, `${dir}: duplicate objects`);
  }
});

test('every YAML file under manifests/ is part of some kustomization', (t) => {
  const used = new Set<string>();
  const walkKustomization = (dir: string): void => {
    const k = yaml.load(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources?: string[]; components?: string[]; patches?: Array<{ path?: string }> };
    for (const r of [...(k.resources ?? []), ...(k.components ?? [])]) {
      const path = join(dir, r);
      if (statSync(path).isDirectory()) walkKustomization(path);
      else used.add(relative(MANIFESTS, path));
    }
    for (const p of k.patches ?? []) if (p.path) used.add(relative(MANIFESTS, join(dir, p.path)));
  };
  for (const dir of [...KUSTOMIZATIONS, ...COMPONENTS]) walkKustomization(join(MANIFESTS, dir));
  const files = (readdirSync(MANIFESTS, { recursive: true }) as string[])
    .filter((f) => /\.ya?ml$/.test(f) && !/(^|\/)kustomization\.ya?ml$/.test(f))
    .filter((f) => !NOT_OURS.some((prefix) => f.startsWith(`${prefix}/`)));
  t.deepEqual(files.filter((f) => !used.has(f)), []);
});

test('Route CRD: group, scope, served version, status subresource', (t) => {
  const crd = find(build('.'), 'CustomResourceDefinition', 'routes.route.openshift.io') as Json;
  t.is(crd.metadata.name, 'routes.route.openshift.io');
  t.is(crd.spec.group, 'route.openshift.io');
  t.is(crd.spec.scope, 'Namespaced');
  t.deepEqual(crd.spec.names.kind, 'Route');
  t.is(crd.spec.versions.length, 1);
  const v1 = crd.spec.versions[0];
  // (The API server refuses a v1 CRD whose schema is not structural: test/real/ applies it.)
  t.like(v1, { name: 'v1', served: true, storage: true, subresources: { status: {} } });
});

test('OpenShift overlay: the Middleware CRD and its roles but no Route CRD, the hostnetwork-v2 SCC for the router, UID left to the SCC, its own name', (t) => {
  const openshift = build('overlays/openshift');
  // Everything but crd/route (the Route CRD and its aggregated roles: OpenShift has both already);
  // crd/middleware included: Middlewares are switchyard's own API (issue 21 defect 2).
  const routeApi = new Set(build('crd/route').map(manifestId));
  const expected = build('.').map(manifestId).filter((id) => !routeApi.has(id));
  t.true(expected.includes('apiextensions.k8s.io/v1/CustomResourceDefinition/middlewares.switchyard.io'));
  t.true(expected.includes('rbac.authorization.k8s.io/v1/ClusterRole/switchyard-edit') && expected.includes('rbac.authorization.k8s.io/v1/ClusterRole/switchyard-view'));
  t.false(expected.some((id) => id.endsWith('/routes.route.openshift.io')));
  expected.push('rbac.authorization.k8s.io/v1/Role/switchyard/switchyard-router-scc', 'rbac.authorization.k8s.io/v1/RoleBinding/switchyard/switchyard-router-scc');
  t.deepEqual(openshift.map(manifestId).sort(), expected.sort());
  const scc = find(openshift, 'Role', 'switchyard-router-scc') as Json;
  t.deepEqual(scc.rules, [{ apiGroups: ['security.openshift.io'], resources: ['securitycontextconstraints'], resourceNames: ['hostnetwork-v2'], verbs: ['use'] }]);
  t.like(find(openshift, 'RoleBinding', 'switchyard-router-scc'), {
    roleRef: { kind: 'Role', name: 'switchyard-router-scc' },
    subjects: [{ kind: 'ServiceAccount', name: 'switchyard-router', namespace: 'switchyard' }],
  });
  const ds = find(openshift, 'DaemonSet') as Json;
  const base = routerDaemonSet();
  delete base.spec.template.spec.securityContext.runAsUser;
  delete base.spec.template.spec.securityContext.runAsGroup;
  delete base.spec.template.spec.priorityClassName; // OpenShift: only in kube-system, openshift-*
  // Not "default", the name of OpenShift's own IngressController (same status.ingress[] entry).
  for (const e of container(base).env as Json[]) {
    if (e.name === 'ROUTER_SERVICE_NAME') e.value = 'switchyard';
    if (e.name === 'ROUTER_CANONICAL_HOSTNAME') e.value = 'router-switchyard.apps.example.com';
  }
  // The environment by name: a strategic-merge patch puts the entries it sets first.
  for (const d of [ds, base]) (container(d).env as Json[]).sort((a, b) => a.name.localeCompare(b.name));
  t.deepEqual(ds, base);
  t.true(ds.spec.template.spec.securityContext.runAsNonRoot);
  t.like(parseConfig([], { ...envOf(ds), STATS_USERNAME_FILE: '', STATS_PASSWORD_FILE: '' }), { routerName: 'switchyard', leaseName: 'switchyard-switchyard' });
});

test('Route CRD printer columns are the ones `oc get routes` shows and point at schema fields', (t) => {
  const crd = find(build('.'), 'CustomResourceDefinition', 'routes.route.openshift.io') as Json;
  const columns = crd.spec.versions[0].additionalPrinterColumns as Json[];
  // What they show for a real Route, Admitted included: test/real/router-rbac.test.ts.
  t.deepEqual(columns.filter((c) => c.priority === undefined).map((c) => c.name),
    ['Host', 'Path', 'Services', 'Port', 'Termination', 'Wildcard', 'Age']);
});

test('router DaemonSet: host network, ports, probes, drain, placement, update strategy', (t) => {
  const ds = routerDaemonSet();
  const pod = ds.spec.template.spec;
  const c = container(ds);
  t.is(ds.metadata.namespace, 'switchyard');
  t.true(pod.hostNetwork);
  t.is(pod.dnsPolicy, 'ClusterFirstWithHostNet');
  // Declared ports of a host-network pod become host ports: the surge pod could not schedule.
  t.is(c.ports, undefined);
  t.deepEqual(ds.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  t.true(ds.spec.minReadySeconds > 0);
  const env = envOf(ds);
  // Probes reach the pod's own router over its Unix socket (two routers share 1936 in a rollover).
  const probePath = (probe: Json) => {
    const script = probe.exec.command.at(-1) as string;
    t.true(script.includes(`socketPath:'${env.ROUTER_ADMIN_SOCKET}'`), script);
    return /path:'([^']+)'/.exec(script)?.[1];
  };
  t.is(probePath(c.startupProbe), '/healthz/ready');
  t.is(probePath(c.readinessProbe), '/healthz/ready');
  t.is(probePath(c.livenessProbe), '/healthz');
  t.true(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 300, 'a first sync of a large cluster fits the startup probe');
  t.true((c.volumeMounts as Json[]).some((m) => env.ROUTER_ADMIN_SOCKET!.startsWith(`${m.mountPath}/`) && (pod.volumes as Json[]).some((v) => v.name === m.name && v.emptyDir)), 'the socket is in a pod-local volume');
  t.is(c.lifecycle?.preStop, undefined);
  t.is(pod.priorityClassName, 'system-node-critical');
  // Nothing privileged: the tcp_migrate_req init container is opt-in (components/tcp-migrate-req).
  t.is(pod.initContainers, undefined);
  t.deepEqual(pod.nodeSelector, { 'node-role.kubernetes.io/edge': '' });
  t.true(pod.tolerations.some((tol: Json) => tol.key === 'node-role.kubernetes.io/edge'));
  const seconds = (name: string) => parseDuration(env[name]!) / 1000;
  t.is(seconds('ROUTER_DRAIN_TIMEOUT'), 30);
  t.is(seconds('ROUTER_TUNNEL_DRAIN_TIMEOUT'), 300);
  t.is(pod.terminationGracePeriodSeconds, 330);
  t.true(pod.terminationGracePeriodSeconds >= seconds('ROUTER_GRACEFUL_SHUTDOWN_DELAY') + Math.max(seconds('ROUTER_DRAIN_TIMEOUT'), seconds('ROUTER_TUNNEL_DRAIN_TIMEOUT')) + 10, 'grace period covers the delay and the drain');
  t.like(c.resources, { requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '1Gi' } });
  // Credentials and the default certificate come from mounted Secrets.
  const mounted = (file: string) => (c.volumeMounts as Json[]).find((m) => file.startsWith(`${m.mountPath}/`));
  const secretOf = (file: string) => (pod.volumes as Json[]).find((v) => v.name === mounted(file)?.name)?.secret;
  t.is(secretOf(env.STATS_USERNAME_FILE!)?.secretName, 'switchyard-stats');
  t.is(secretOf(env.STATS_PASSWORD_FILE!)?.secretName, 'switchyard-stats');
  t.like(secretOf(`${env.DEFAULT_CERTIFICATE_DIR}/tls.crt`), { secretName: 'switchyard-default-certificate', optional: true });
  t.is(c.image, 'ghcr.io/switchyard/switchyard:0.1.0');
  t.deepEqual(ds.spec.selector.matchLabels, Object.fromEntries(
    Object.entries(ds.spec.template.metadata.labels as Record<string, string>).filter(([k]) => k in ds.spec.selector.matchLabels)));
  t.like(ds.spec.template.metadata.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '1936', 'prometheus.io/path': '/metrics' });
});

test('components/tcp-migrate-req adds the privileged sysctl init container to every router DaemonSet, and nothing else', (t) => {
  for (const base of ['.', 'overlays/shard-b'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'tcp-migrate-req-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'kustomization.yaml'), yaml.dump({
      apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization',
      resources: [relative(dir, join(MANIFESTS, base))],
      components: [relative(dir, join(MANIFESTS, 'components/tcp-migrate-req'))],
    }));
    const withComponent = kubectlKustomize(dir);
    const without = build(base);
    t.deepEqual(withComponent.map(manifestId), without.map(manifestId));
    const ds = find(withComponent, 'DaemonSet') as Json;
    const pod = ds.spec.template.spec;
    t.is(pod.initContainers.length, 1);
    const sysctl = pod.initContainers[0];
    t.is(sysctl.name, 'tcp-migrate-req');
    t.deepEqual(sysctl.command, ['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/tcp_migrate_req']);
    t.true(sysctl.securityContext.privileged);
    t.is(sysctl.image, container(ds).image, 'the router\'s image (an `images:` override changes both)');
    t.is(sysctl.ports, undefined);
    delete pod.initContainers;
    t.deepEqual(ds, find(without, 'DaemonSet'));
  }
});

test('router namespace: Pod Security "privileged" (hostNetwork is outside baseline), enforced and warned', (t) => {
  const ns = find(build('.'), 'Namespace', 'switchyard') as Json;
  t.like(ns.metadata.labels, { 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/warn': 'privileged' });
});

test('router DaemonSet: least-privilege security context', (t) => {
  const ds = routerDaemonSet();
  const pod = ds.spec.template.spec;
  const sc = container(ds).securityContext;
  t.true(pod.securityContext.runAsNonRoot);
  t.true(Number.isInteger(pod.securityContext.runAsUser) && pod.securityContext.runAsUser > 0);
  t.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  t.deepEqual(sc.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
  t.false(sc.allowPrivilegeEscalation);
  t.true(sc.readOnlyRootFilesystem);
  t.not(sc.privileged, true);
});

test('router DaemonSet env: OpenShift names from src/config.ts, parsed by the real option parser', (t) => {
  const ds = routerDaemonSet();
  const known = new Set(OPTIONS.map((o) => o.env).filter((e) => e !== undefined));
  const env = envOf(ds);
  for (const name of Object.keys(env)) t.true(known.has(name), `${name} is not an option of src/config.ts`);
  // The Secret's files, as the kubelet would mount them.
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-stats-'));
  writeFileSync(join(dir, 'username'), 'stats-user');
  writeFileSync(join(dir, 'password'), 'stats-password');
  const config = parseConfig([], { ...env, STATS_USERNAME_FILE: join(dir, 'username'), STATS_PASSWORD_FILE: join(dir, 'password') });
  t.like(config, {
    routerName: 'default', httpPort: 80, httpsPort: 443, adminPort: 1936, leaseNamespace: 'switchyard',
    canonicalHostname: 'router-default.apps.example.com', routeLabels: '', namespaceLabels: '',
    statsUsername: 'stats-user', statsPassword: 'stats-password',
    drainTimeout: 30_000, allowWildcardRoutes: false, nodeName: 'edge-node-1',
  });
  t.deepEqual(container(ds).args, ['run']);
});

test('shard-b router differs from the default router only in name, shard, placement', (t) => {
  const base = routerDaemonSet();
  const shard = routerDaemonSet('overlays/shard-b');
  const differences: string[] = [];
  const diff = (a: unknown, b: unknown, path: string): void => {
    if (isDeepStrictEqual(a, b)) return;
    if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        diff((a as Json)[key], (b as Json)[key], `${path}/${key}`);
      }
    } else {
      differences.push(path);
    }
  };
  // The environment by name: a strategic-merge patch puts the entries it sets first.
  for (const ds of [base, shard]) container(ds).env = Object.fromEntries((container(ds).env as Json[]).map((e) => [e.name, e]));
  diff(base, shard, '');
  const envIndex = (name: string) => name;
  t.deepEqual(differences.sort(), [
    '/metadata/labels/app.kubernetes.io~instance',
    '/metadata/name',
    '/spec/selector/matchLabels/app.kubernetes.io~instance',
    `/spec/template/spec/containers/0/env/${envIndex('ROUTER_SERVICE_NAME')}/value`,
    `/spec/template/spec/containers/0/env/${envIndex('ROUTE_LABELS')}/value`,
    `/spec/template/spec/containers/0/env/${envIndex('ROUTER_CANONICAL_HOSTNAME')}/value`,
    `/spec/template/spec/containers/0/env/${envIndex('ROUTER_SUBDOMAIN')}/value`,
    '/spec/template/metadata/labels/app.kubernetes.io~instance',
    '/spec/template/spec/nodeSelector/node-role.kubernetes.io~edge',
    '/spec/template/spec/nodeSelector/node-role.kubernetes.io~edge-shard-b',
    '/spec/template/spec/tolerations/0/key',
    // No fixed UID: OpenShift's host-network SCC assigns one; elsewhere the image's USER applies.
    '/spec/template/spec/securityContext/runAsUser',
    '/spec/template/spec/securityContext/runAsGroup',
  ].map((p) => p.replaceAll('~', '/')).sort());
  const config = parseConfig([], { ...envOf(routerDaemonSet('overlays/shard-b')), STATS_USERNAME_FILE: '', STATS_PASSWORD_FILE: '' });
  t.like(config, { routerName: 'shard-b', routeLabels: 'shard=b', leaseName: 'switchyard-shard-b' });
  t.is(shard.metadata.name, 'switchyard-router-shard-b');
  t.is(shard.metadata.namespace, 'switchyard');
});

test('shard-b over the OpenShift overlay (as manifests/README.md says): the same patch applies', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shard-b-openshift-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const shard = readFileSync(join(MANIFESTS, 'overlays/shard-b/kustomization.yaml'), 'utf8');
  t.true(shard.includes('  - ../../base\n'));
  writeFileSync(join(dir, 'kustomization.yaml'), shard.replace('  - ../../base\n', `  - ${relative(dir, join(MANIFESTS, 'overlays/openshift'))}\n`));
  const ds = find(kubectlKustomize(dir), 'DaemonSet') as Json;
  t.is(ds.metadata.name, 'switchyard-router-shard-b');
  t.like(parseConfig([], { ...envOf(ds), STATS_USERNAME_FILE: '', STATS_PASSWORD_FILE: '' }), { routerName: 'shard-b', routeLabels: 'shard=b' });
  const pod = ds.spec.template.spec;
  t.is(pod.securityContext.runAsUser, undefined);
  t.is(pod.initContainers, undefined);
  t.is(pod.priorityClassName, undefined);
});

test('RBAC: exactly the rules the router needs, no wildcards, writes only to status and leases', (t) => {
  const objects = build('.');
  const sa = find(objects, 'ServiceAccount', 'switchyard-router');
  t.is(routerDaemonSet().spec.template.spec.serviceAccountName, sa.metadata.name);
  const rulesOf = (role: Json): string[] => (role.rules as Json[]).flatMap((r) => {
    t.is(r.resourceNames, undefined);
    return (r.apiGroups as string[]).flatMap((g) => (r.resources as string[]).map((res) => `${g || 'core'}/${res}: ${[...r.verbs].sort().join(',')}`));
  }).sort();
  const clusterRole = find(objects, 'ClusterRole', 'switchyard-router') as Json;
  t.deepEqual(rulesOf(clusterRole), [
    'core/configmaps: list,watch',
    'core/namespaces: list,watch',
    'core/pods: list,watch',
    'core/secrets: list,watch',
    'core/services: list,watch',
    'discovery.k8s.io/endpointslices: list,watch',
    'networking.k8s.io/ingressclasses: list,watch',
    'networking.k8s.io/ingresses/status: get,patch',
    'networking.k8s.io/ingresses: list,watch',
    'route.openshift.io/routes/status: get,patch',
    'route.openshift.io/routes: list,watch',
    'switchyard.io/middlewares: list,watch',
    // Gateway API (status writer GETs before it PUTs)
    'gateway.networking.k8s.io/gatewayclasses: get,list,watch',
    'gateway.networking.k8s.io/gateways: get,list,watch',
    'gateway.networking.k8s.io/httproutes: get,list,watch',
    'gateway.networking.k8s.io/grpcroutes: get,list,watch',
    'gateway.networking.k8s.io/tlsroutes: get,list,watch',
    'gateway.networking.k8s.io/tcproutes: get,list,watch',
    'gateway.networking.k8s.io/udproutes: get,list,watch',
    'gateway.networking.k8s.io/referencegrants: list,watch',
    'gateway.networking.k8s.io/backendtlspolicies: get,list,watch',
    'gateway.networking.k8s.io/listenersets: get,list,watch',
    'gateway.networking.k8s.io/gatewayclasses/status: update',
    'gateway.networking.k8s.io/gateways/status: update',
    'gateway.networking.k8s.io/httproutes/status: update',
    'gateway.networking.k8s.io/grpcroutes/status: update',
    'gateway.networking.k8s.io/tlsroutes/status: update',
    'gateway.networking.k8s.io/tcproutes/status: update',
    'gateway.networking.k8s.io/udproutes/status: update',
    'gateway.networking.k8s.io/backendtlspolicies/status: update',
    'gateway.networking.k8s.io/listenersets/status: update',
  ].sort());
  const role = find(objects, 'Role', 'switchyard-router-leader-election') as Json;
  t.is(role.metadata.namespace, 'switchyard');
  t.deepEqual(rulesOf(role), ['coordination.k8s.io/leases: create,get,list,update,watch']);
  const subject = { kind: 'ServiceAccount', name: 'switchyard-router', namespace: 'switchyard' };
  t.like(find(objects, 'ClusterRoleBinding'), { roleRef: { kind: 'ClusterRole', name: 'switchyard-router' }, subjects: [subject] });
  t.like(find(objects, 'RoleBinding'), { metadata: { namespace: 'switchyard' }, roleRef: { kind: 'Role', name: role.metadata.name }, subjects: [subject] });
  t.false(JSON.stringify([clusterRole.rules, role.rules]).includes('"*"'));
});

test('PodMonitor scrapes the admin port of every router pod with the stats credentials', (t) => {
  const monitor = find(build('monitoring'), 'PodMonitor') as Json;
  const ds = routerDaemonSet();
  t.is(monitor.metadata.namespace, ds.metadata.namespace);
  const podLabels = ds.spec.template.metadata.labels;
  const shardLabels = routerDaemonSet('overlays/shard-b').spec.template.metadata.labels;
  for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) {
    t.is(podLabels[k], v);
    t.is(shardLabels[k], v);
  }
  const endpoint = monitor.spec.podMetricsEndpoints[0];
  t.like(endpoint, { path: '/metrics' });
  const env = envOf(ds);
  t.true((endpoint.relabelings as Json[]).some((r) => r.targetLabel === '__address__' && r.replacement === `$1:${env.STATS_PORT}`));
  t.true((endpoint.relabelings as Json[]).some((r) => r.action === 'keep' && r.regex === container(ds).name));
  const pod = ds.spec.template.spec;
  const secret = (file: string) => (pod.volumes as Json[]).find((v) => v.name === (container(ds).volumeMounts as Json[]).find((m) => file.startsWith(`${m.mountPath}/`))?.name)?.secret?.secretName;
  t.is(`${secret(env.STATS_USERNAME_FILE!)}/${env.STATS_USERNAME_FILE!.split('/').at(-1)}`, `${endpoint.basicAuth.username.name}/${endpoint.basicAuth.username.key}`);
  t.is(`${secret(env.STATS_PASSWORD_FILE!)}/${env.STATS_PASSWORD_FILE!.split('/').at(-1)}`, `${endpoint.basicAuth.password.name}/${endpoint.basicAuth.password.key}`);
});

test('examples: weighted 70/30 Route, wildcard Route, Ingress of class switchyard; every backend exists', (t) => {
  const objects = build('examples');
  const services = new Map(objects.filter((o) => o.kind === 'Service').map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o as Json]));
  const shop = find(objects, 'Route', 'shop') as Json;
  t.deepEqual([shop.spec.to, ...shop.spec.alternateBackends].map((b: Json) => [b.name, b.weight]), [['shop-v1', 70], ['shop-v2', 30]]);
  const wildcard = find(objects, 'Route', 'tenants') as Json;
  t.is(wildcard.spec.wildcardPolicy, 'Subdomain');
  for (const route of [shop, wildcard]) {
    for (const backend of [route.spec.to, ...(route.spec.alternateBackends ?? [])]) {
      const svc = services.get(`${route.metadata.namespace}/${backend.name}`);
      t.truthy(svc, `${route.metadata.name} -> ${backend.name}`);
      const target = route.spec.port.targetPort;
      t.true(svc.spec.ports.some((p: Json) => p.name === target || p.port === target || p.targetPort === target), `port ${target}`);
    }
  }
  const ingressClass = find(objects, 'IngressClass', 'switchyard') as Json;
  t.is(ingressClass.spec.controller, 'switchyard.io/ingress-controller');
  t.is(parseConfig([], {}).ingressClass, ingressClass.metadata.name);
  const ingress = find(objects, 'Ingress', 'shop') as Json;
  t.is(ingress.spec.ingressClassName, 'switchyard');
  for (const rule of ingress.spec.rules) {
    for (const p of rule.http.paths) {
      const svc = services.get(`${ingress.metadata.namespace}/${p.backend.service.name}`);
      t.truthy(svc, p.backend.service.name);
      t.true(svc.spec.ports.some((sp: Json) => sp.name === p.backend.service.port.name || sp.port === p.backend.service.port.number));
    }
  }
});

test('Dockerfile: node:24-slim stages, production install, the DaemonSet\'s non-root UID, entrypoint', (t) => {
  const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const from = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  t.deepEqual(from, ['node:24-slim', 'node:24-slim']);
  t.regex(dockerfile, /^RUN npm ci\b/m);
  t.regex(dockerfile, /^RUN npm run build$/m);
  t.regex(dockerfile, /npm ci --omit=dev/);
  t.regex(dockerfile, /^COPY --from=build \/app\/dist \.\/dist$/m);
  t.regex(dockerfile, /setcap cap_net_bind_service=\+ep/);
  const podSecurity = routerDaemonSet().spec.template.spec.securityContext;
  const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
  t.deepEqual(user && [Number(user[1]), Number(user[2])], [podSecurity.runAsUser, podSecurity.runAsGroup]);
  t.regex(dockerfile, /^ENTRYPOINT \["node", "dist\/cli\.js"\]$/m);
  t.regex(dockerfile, /^CMD \["run"\]$/m);
  const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const entry of ['node_modules', 'dist', 'test', '.git']) t.true(ignored.includes(entry), entry);
});

test('RBAC: the ClusterRole lets the router list and watch every resource its informers read', (t) => {
  const clusterRole = find(build('.'), 'ClusterRole', 'switchyard-router') as Json;
  const allows = (group: string, resource: string, verb: string): boolean => (clusterRole.rules as Json[])
    .some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
  // Every informer the router can run, NAMESPACE_LABELS included.
  const config = parseConfig([], { NAMESPACE_LABELS: 'router=switchyard' });
  const gatewayApi = new Set(['gatewayclasses', 'gateways', 'httproutes', 'grpcroutes', 'tlsroutes', 'tcproutes', 'udproutes', 'referencegrants'].map((p) => `/apis/gateway.networking.k8s.io/${p === 'referencegrants' ? 'v1beta1' : 'v1'}/${p}`));
  const served = new Set([...gatewayApi, '/apis/switchyard.io/v1alpha1/middlewares']);
  for (const watched of [...watchedResources(config, served), ...gatewayResources(config, served), podResource(config), secretResource('a/tls')]) {
    const apiVersion = API_VERSION[watched.kind];
    const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
    for (const verb of ['list', 'watch']) t.true(allows(group, watched.resource, verb), `${verb} ${group}/${watched.resource}`);
  }
});

test('Middleware CRD: switchyard.io/v1alpha1, namespaced; the router may list and watch it', (t) => {
  // Its schema (spec.plugin required, config any object) is checked by the API server itself:
  // test/real/manifests.test.ts.
  const crd = find(build('.'), 'CustomResourceDefinition', 'middlewares.switchyard.io') as Json;
  t.like(crd.spec, { group: 'switchyard.io', scope: 'Namespaced', names: { kind: 'Middleware', plural: 'middlewares' } });
  const v = crd.spec.versions[0];
  t.like(v, { name: 'v1alpha1', served: true, storage: true });
  const role = find(build('.'), 'ClusterRole', 'switchyard-router') as Json;
  t.true(role.rules.some((r: Json) => r.apiGroups.includes('switchyard.io') && r.resources.includes('middlewares') && r.verbs.includes('watch')));
});

/**
 * A container's env as the kubelet hands it over: downward API fields filled in from `pod`,
 * and $(VAR) expanded from the entries defined before (a later or unknown one stays as written).
 */
function expandedEnv(ds: Json, pod: { ip: string; name: string; node: string }): Record<string, string> {
  const env: Record<string, string> = {};
  const fields: Record<string, string> = { 'status.hostIP': pod.ip, 'metadata.name': pod.name, 'spec.nodeName': pod.node, 'metadata.namespace': ds.metadata.namespace };
  for (const e of container(ds).env as Json[]) {
    if (e.valueFrom?.fieldRef) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath]!;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = `secret:${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
    else env[e.name] = String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
  }
  return env;
}

/** `base` with components/tracing, built. */
function withTracing(base: string): Manifest[] {
  const dir = mkdtempSync(join(tmpdir(), 'tracing-'));
  try {
    writeFileSync(join(dir, 'kustomization.yaml'), yaml.dump({
      apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization',
      resources: [relative(dir, join(MANIFESTS, base))],
      components: [relative(dir, join(MANIFESTS, 'components/tracing'))],
    }));
    return kubectlKustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('components/tracing: the node-local collector at the host IP, 1 % of new traces, pod and node in the resource', (t) => {
  const ds = find(withTracing('.'), 'DaemonSet') as Json;
  const env = expandedEnv(ds, { ip: '192.0.2.10', name: 'switchyard-router-x7k2p', node: 'edge-1' });
  // Only the downward-API helpers for $(VAR) are not options of src/config.ts.
  const known = new Set(OPTIONS.map((o) => o.env).filter((e) => e !== undefined));
  t.deepEqual(Object.keys(env).filter((name) => !known.has(name)).sort(), ['HOST_IP', 'POD_NAME']);
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-stats-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'username'), 'u');
  writeFileSync(join(dir, 'password'), 'p');
  const config = parseConfig([], { ...env, STATS_USERNAME_FILE: join(dir, 'username'), STATS_PASSWORD_FILE: join(dir, 'password') });
  t.like(config, { otlpEndpoint: 'http://192.0.2.10:4318', otlpProtocol: 'http/protobuf', traceSampler: 'parentbased_traceidratio', traceSamplerArg: 0.01 });
  t.deepEqual(config.resourceAttributes, ['k8s.pod.name=switchyard-router-x7k2p', 'k8s.node.name=edge-1', 'k8s.namespace.name=switchyard']);
  // Appended after the base's entries, in order ($(VAR) needs the entries before it), and nothing else changes.
  const base = routerDaemonSet();
  const baseEnv = container(base).env as Json[];
  t.deepEqual((container(ds).env as Json[]).slice(0, baseEnv.length), baseEnv);
  t.deepEqual((container(ds).env as Json[]).slice(baseEnv.length).map((e: Json) => e.name),
    ['HOST_IP', 'POD_NAME', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG', 'OTEL_RESOURCE_ATTRIBUTES']);
  container(ds).env = baseEnv;
  t.deepEqual(ds, base);
});

test('components/tracing composes with the other router kustomizations (shard-b, OpenShift)', (t) => {
  for (const overlay of ['overlays/shard-b', 'overlays/openshift']) {
    const ds = find(withTracing(overlay), 'DaemonSet') as Json;
    const env = expandedEnv(ds, { ip: '192.0.2.10', name: 'p', node: 'n' });
    t.is(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://192.0.2.10:4318', overlay);
    t.regex(env.OTEL_RESOURCE_ATTRIBUTES!, /k8s\.namespace\.name=switchyard$/, overlay);
  }
});
