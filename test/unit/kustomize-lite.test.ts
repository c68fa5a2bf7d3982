import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKustomization, KustomizeLiteError, manifestId } from '../support/kustomize-lite.ts';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kustomize-lite-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const cm = (name: string, ns = '') => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}`;
const role = 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\n';

test('follows files and directories, applies namespace to namespaced kinds only', (t) => {
  const root = tree({
    'kustomization.yaml': 'resources:\n  - sub\n  - two.yaml\n',
    'two.yaml': `${cm('b', 'other')}---\n---\n${role}`,
    'sub/kustomization.yaml': 'namespace: inner\nresources: [one.yaml]\n',
    'sub/one.yaml': cm('a'),
  });
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  t.deepEqual(buildKustomization(root).map(manifestId), [
    'v1/ConfigMap/inner/a', 'v1/ConfigMap/other/b', 'rbac.authorization.k8s.io/v1/ClusterRole//r',
  ]);
  const outer = tree({ 'kustomization.yaml': 'namespace: outer\nresources: [x.yaml]\n', 'x.yaml': `${cm('b', 'other')}---\n${role}` });
  t.teardown(() => rmSync(outer, { recursive: true, force: true }));
  t.deepEqual(buildKustomization(outer).map(manifestId), ['v1/ConfigMap/outer/b', 'rbac.authorization.k8s.io/v1/ClusterRole//r']);
});

test('applies inline JSON 6902 patches: add, replace, remove, append', (t) => {
  const root = tree({
    'kustomization.yaml': [
      'resources: [a.yaml]',
      'patches:',
      '  - target: { kind: ConfigMap, name: a }',
      '    patch: |-',
      '      - { op: add, path: /data, value: { k: v, list: [1] } }',
      '      - { op: replace, path: /data/k, value: w }',
      '      - { op: add, path: /data/list/-, value: 2 }',
      '      - { op: add, path: /data/list/0, value: 0 }',
      '      - { op: remove, path: /metadata/labels/app.kubernetes.io~1name }',
      '',
    ].join('\n'),
    'a.yaml': `${cm('a')}  labels:\n    app.kubernetes.io/name: x\n    keep: y\n`,
  });
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const [a] = buildKustomization(root);
  t.deepEqual(a!.metadata.labels, { keep: 'y' });
  t.deepEqual(a!.data, { k: 'w', list: [0, 1, 2] });
});

const broken: Array<[string, Record<string, string>, RegExp]> = [
  ['an unsupported field', { 'kustomization.yaml': 'resources: []\ncommonLabels: { a: b }\n' }, /field "commonLabels" is not supported/],
  ['a missing resource', { 'kustomization.yaml': 'resources: [gone.yaml]\n' }, /resource "gone.yaml" does not exist/],
  ['a directory without kustomization', { 'kustomization.yaml': 'resources: [d]\n', 'd/x.yaml': cm('x') }, /no kustomization.yaml/],
  ['an object defined twice', { 'kustomization.yaml': 'resources: [a.yaml, b.yaml]\n', 'a.yaml': cm('x'), 'b.yaml': cm('x') }, /defined twice/],
  ['a document that is not an object', { 'kustomization.yaml': 'resources: [a.yaml]\n', 'a.yaml': 'just: text\n' }, /document 1 is not a Kubernetes object/],
  ['invalid YAML', { 'kustomization.yaml': 'resources: [a.yaml]\n', 'a.yaml': 'a: [unclosed\n' }, /a\.yaml/],
  ['a strategic merge patch', { 'kustomization.yaml': 'resources: [a.yaml]\npatches:\n  - target: { kind: ConfigMap, name: a }\n    patch: "data: {}"\n', 'a.yaml': cm('a') }, /JSON 6902 list/],
  ['a patch of a missing target', { 'kustomization.yaml': 'resources: [a.yaml]\npatches:\n  - target: { kind: ConfigMap, name: b }\n    patch: "[]"\n', 'a.yaml': cm('a') }, /no ConfigMap b to patch/],
  ['removing a missing field', { 'kustomization.yaml': 'resources: [a.yaml]\npatches:\n  - target: { kind: ConfigMap, name: a }\n    patch: "[{op: remove, path: /data/x}]"\n', 'a.yaml': cm('a') }, /data does not exist|nothing there/],
  ['a patch file path', { 'kustomization.yaml': 'resources: [a.yaml]\npatches:\n  - path: p.yaml\n', 'a.yaml': cm('a') }, /only \{ target/],
  ['a cycle', { 'kustomization.yaml': 'resources: [d]\n', 'd/kustomization.yaml': 'resources: [..]\n' }, /cycle/],
];
for (const [name, files, message] of broken) {
  test(`refuses ${name} with a clear error`, (t) => {
    const root = tree(files);
    t.teardown(() => rmSync(root, { recursive: true, force: true }));
    t.throws(() => buildKustomization(root), { instanceOf: KustomizeLiteError, message });
  });
}
