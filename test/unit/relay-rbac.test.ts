// switchyard kube-relay's ClusterRole (manifests/kube-relay) grants list and watch of exactly what
// it caches by default (src/relay/options.ts ROUTER_KINDS), which is every kind the router's own
// ClusterRole lets it list and watch; and create on TokenReviews and SubjectAccessReviews; nothing else.

import test from 'ava';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { API_VERSION } from '../../src/objects/types.ts';
import { pluralOf } from '../../src/kube/resources.ts';
import { parseRelayOptions, ROUTER_KINDS } from '../../src/relay/options.ts';
import { kubectlKustomize } from '../support/real-apiserver.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
interface Rule { apiGroups: string[]; resources: string[]; verbs: string[] }

function grants(dir: string, role: string): Set<string> {
  const objects = kubectlKustomize(join(MANIFESTS, dir));
  const rules = objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name === role)!.rules as Rule[];
  const out = new Set<string>();
  for (const rule of rules) for (const group of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) out.add(`${verb} ${group}/${resource}`);
  return out;
}

test('the relay may list and watch what it caches, review tokens and access, and nothing more', (t) => {
  const relay = grants('kube-relay', 'switchyard-kube-relay');
  const expected = new Set<string>(['create authentication.k8s.io/tokenreviews', 'create authorization.k8s.io/subjectaccessreviews']);
  for (const kind of ROUTER_KINDS) {
    const group = API_VERSION[kind].includes('/') ? API_VERSION[kind].split('/')[0]! : '';
    for (const verb of ['list', 'watch']) expected.add(`${verb} ${group}/${pluralOf(kind)}`);
  }
  t.deepEqual([...relay].sort(), [...expected].sort());
  // Every collection the router may list and watch, the relay caches.
  const router = grants('base', 'switchyard-router');
  for (const grant of router) if (grant.startsWith('watch ')) t.true(relay.has(grant), grant);
});

test('options: the default cache is every router kind; --cache names plural resources, an unknown one is refused', (t) => {
  const files = ['--tls-cert-file', 'c', '--tls-key-file', 'k'];
  t.is(parseRelayOptions(files, {}).cached.size, ROUTER_KINDS.length);
  t.deepEqual([...parseRelayOptions([...files, '--cache', 'routes,services'], {}).cached], ['/apis/route.openshift.io/v1/routes', '/api/v1/services']);
  t.throws(() => parseRelayOptions([...files, '--cache', 'leases'], {}), { message: /"leases" is not a resource the router reads/ });
  t.throws(() => parseRelayOptions([], {}), { message: /--tls-cert-file and --tls-key-file are required/ });
  t.throws(() => parseRelayOptions([...files, '--port', 'x'], {}), { message: /--port must be a whole number/ });
});

test('options: caps on collections, in all and per user, with the users they do not bind', (t) => {
  const files = ['--tls-cert-file', 'c', '--tls-key-file', 'k'];
  const defaults = parseRelayOptions(files, {});
  t.is(defaults.maxCollections, 2_000);
  t.is(defaults.maxCollectionsPerUser, 32);
  t.deepEqual([...defaults.uncappedUsers], []);
  const set = parseRelayOptions([...files, '--max-collections', '500', '--max-collections-per-user', '4'], { RELAY_UNCAPPED_USERS: 'system:serviceaccount:switchyard:switchyard-router, u2' });
  t.is(set.maxCollections, 500);
  t.is(set.maxCollectionsPerUser, 4);
  t.deepEqual([...set.uncappedUsers], ['system:serviceaccount:switchyard:switchyard-router', 'u2']);
  t.throws(() => parseRelayOptions([...files, '--max-collections-per-user', 'many'], {}), { message: /--max-collections-per-user must be a whole number/ });
  t.is(defaults.unreadyAfterMs, 30_000);
  t.is(parseRelayOptions([...files, '--unready-after', '5'], {}).unreadyAfterMs, 5_000);
  t.throws(() => parseRelayOptions([...files, '--unready-after', '0'], {}), { message: /--unready-after must be a whole number ≥ 1/ });
});

test('manifests/kube-relay: the routers\' ServiceAccount is not bound by the per-user cap (one collection per named Secret)', (t) => {
  const deployment = kubectlKustomize(join(MANIFESTS, 'kube-relay')).find((o) => o.kind === 'Deployment')!;
  const env = deployment.spec.template.spec.containers[0].env as Array<{ name: string; value?: string; valueFrom?: any }>;
  const names = env.map((e) => e.name);
  t.is(env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath, 'metadata.namespace');
  t.true(names.indexOf('POD_NAMESPACE') < names.indexOf('RELAY_UNCAPPED_USERS'), '$(POD_NAMESPACE) is defined before it is used');
  const router = kubectlKustomize(join(MANIFESTS, 'base')).find((o) => o.kind === 'DaemonSet')!.spec.template.spec.serviceAccountName;
  t.is(env.find((e) => e.name === 'RELAY_UNCAPPED_USERS')?.value, `system:serviceaccount:$(POD_NAMESPACE):${router}`);
});

test('manifests/kube-relay: the readiness probe is /readyz (the API server answers the relay), liveness /healthz, on the admin port', (t) => {
  const container = kubectlKustomize(join(MANIFESTS, 'kube-relay')).find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0];
  t.like(container.readinessProbe, { httpGet: { path: '/readyz', port: 'metrics' } });
  t.like(container.livenessProbe, { httpGet: { path: '/healthz', port: 'metrics' } });
  const admin = parseRelayOptions(['--tls-cert-file', 'c', '--tls-key-file', 'k'], {}).adminPort;
  t.is(container.ports.find((p: { name: string }) => p.name === 'metrics').containerPort, admin);
});
