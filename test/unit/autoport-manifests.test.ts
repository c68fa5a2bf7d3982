// manifests/examples/autoport: builds (the real `kubectl kustomize`), passes the Kubernetes schemas,
// and holds together — the container's args parse as `switchyard autoport` options, the template
// they name is in the mounted ConfigMap and renders, RBAC lets the pod patch pods of its namespace
// only. The real API server applies it with strict validation in test/real/manifests.test.ts
// (the Route against its CRD there) and runs the companion under its RBAC in router-rbac.test.ts.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectlKustomize, type Manifest } from '../support/real-apiserver.ts';
import { parseAutoportOptions } from '../../src/autoport/autoport-options.ts';
import { renderTemplate } from '../../src/autoport/template-render.ts';
import { portVariables } from '../../src/autoport/port-variables.ts';

type Json = any;

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(REPO, 'manifests/examples/autoport');

const objects: Manifest[] = kubectlKustomize(DIR);
const manifestId = (o: Manifest) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function find(kind: string): Json {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
}

test('every object but the Route passes the Kubernetes schemas', async (t) => {
  t.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
    'ConfigMap/autoport-demo', 'Deployment/autoport-demo', 'Namespace/autoport-demo', 'Role/autoport-report',
    'RoleBinding/autoport-report', 'Route/autoport-demo', 'Service/autoport-demo', 'ServiceAccount/autoport-demo',
  ]);
  for (const o of objects) {
    if (o.kind === 'Route') continue; // checked against its CRD by the API server (test/real/)
    const module = await import(`kubernetes-models/${o.apiVersion}/${o.kind}`);
    const Model = module[o.kind as string] as new (data: unknown) => { validate(): void };
    t.notThrows(() => new Model(o).validate(), manifestId(o));
    if (o.kind !== 'Namespace') t.is(o.metadata.namespace, 'autoport-demo', manifestId(o));
  }
});

test('Deployment: 3 host-network replicas, ClusterFirstWithHostNet, downward-API pod identity, no fixed ports', (t) => {
  const d = find('Deployment');
  const pod = d.spec.template.spec;
  t.is(d.spec.replicas, 3);
  t.true(pod.hostNetwork);
  t.is(pod.dnsPolicy, 'ClusterFirstWithHostNet');
  t.is(pod.serviceAccountName, find('ServiceAccount').metadata.name);
  const c = pod.containers[0];
  const env = Object.fromEntries((c.env as Json[]).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
  t.like(env, { POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
  t.is(c.ports, undefined, 'a containerPort on the host network is a fixed host port');
});

test('the container args are valid autoport options; the template renders with the picked ports', (t) => {
  const d = find('Deployment');
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  t.is(c.args[0], 'autoport');
  const env: NodeJS.ProcessEnv = { POD_NAME: 'autoport-demo-abc', POD_NAMESPACE: 'autoport-demo' };
  for (const e of c.env as Json[]) if (e.value !== undefined) env[e.name] = e.value;
  const options = parseAutoportOptions(c.args.slice(1), env);
  t.true(options.report);
  t.is(options.start, 20000);
  t.is(options.end, 21000);
  t.is(options.command, 'node');
  t.is(options.templates.length, 1);

  // the template is a key of the ConfigMap mounted at its directory; the output dir is writable
  const { input, output } = options.templates[0]!;
  const mounts = c.volumeMounts as Json[];
  const volumeOf = (file: string): Json => {
    const mount = mounts.find((m) => file.startsWith(`${m.mountPath}/`));
    return mount && { mount, volume: (pod.volumes as Json[]).find((v) => v.name === mount.name) };
  };
  const tmpl = volumeOf(input);
  t.is(tmpl.volume.configMap.name, find('ConfigMap').metadata.name);
  const text = find('ConfigMap').data[input.slice(tmpl.mount.mountPath.length + 1)] as string;
  t.truthy(text, `${input} is not a key of the ConfigMap`);
  const out = volumeOf(output);
  t.truthy(out.volume.emptyDir);
  t.not(out.mount.readOnly, true);
  t.true(c.securityContext.readOnlyRootFilesystem);

  const rendered = JSON.parse(renderTemplate(text, { ...env, ...portVariables([20017, 20333]) }, input));
  t.deepEqual(rendered, { pod: 'autoport-demo-abc', listen: { host: '0.0.0.0', port: 20017 }, admin: { host: '127.0.0.1', port: 20333 } });
  // the server and probe scripts the command names are in the ConfigMap too
  for (const file of [options.args[0]!, ...c.readinessProbe.exec.command.slice(1, 2)]) {
    t.truthy(find('ConfigMap').data[file.slice(tmpl.mount.mountPath.length + 1)], file);
  }
});

test('RBAC: the pod may patch pods of its own namespace, nothing more', (t) => {
  const role = find('Role');
  t.deepEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['patch'] }]);
  t.like(find('RoleBinding'), {
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name },
    subjects: [{ kind: 'ServiceAccount', name: 'autoport-demo', namespace: 'autoport-demo' }],
  });
  t.false(objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'));
});

test('Service selects the pods; the Route points at it and reads AUTO_PORT0', (t) => {
  const d = find('Deployment');
  const service = find('Service');
  const labels = d.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(service.spec.selector as Record<string, string>)) t.is(labels[k], v);
  const route = find('Route');
  t.is(route.metadata.annotations['switchyard.io/target-port-annotation'], 'AUTO_PORT0');
  t.deepEqual(route.spec.to, { kind: 'Service', name: service.metadata.name, weight: 100 });
  t.regex(route.metadata.annotations['switchyard.io/health-check-path'], /^\//);
});

test('the ConfigMap\'s scripts are valid JavaScript modules', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'autoport-manifests-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [key, text] of Object.entries(find('ConfigMap').data as Record<string, string>)) {
    if (!key.endsWith('.mjs')) continue;
    writeFileSync(join(dir, key), text);
    const check = spawnSync(process.execPath, ['--check', join(dir, key)], { encoding: 'utf8', timeout: 20_000 });
    t.is(check.status, 0, `${key}: ${check.stderr}`);
  }
});
