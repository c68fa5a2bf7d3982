// A small subset of `kubectl kustomize`, for machines without kubectl: follows `resources:`
// (YAML files and directories holding a kustomization) and applies `namespace:`. Anything else
// in a kustomization is refused with an error, so this loader can never silently build
// something different from kustomize; the manifests test compares both when kubectl exists.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as yaml from 'js-yaml';

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string };
};

export class KustomizeLiteError extends Error {
  override name = 'KustomizeLiteError';
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace']);

/** Kinds kustomize's namespace transformer leaves alone (cluster-scoped). */
const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'IngressClass',
  'PriorityClass', 'StorageClass', 'PersistentVolume', 'Node', 'RuntimeClass', 'CSIDriver',
  'APIService', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration',
]);

/** `apiVersion/kind/namespace/name`: what kustomize considers the identity of an object. */
export function manifestId(m: Manifest): string {
  return `${m.apiVersion}/${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;
}

export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED_KINDS.has(kind);
}

/** Every document of a YAML file, as manifests; empty documents are skipped. */
export function loadManifestFile(file: string): Manifest[] {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new KustomizeLiteError(`${file}: ${(err as Error).message}`);
  }
  const out: Manifest[] = [];
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return;
    const m = doc as Partial<Manifest>;
    if (typeof doc !== 'object' || typeof m.apiVersion !== 'string' || typeof m.kind !== 'string'
      || typeof m.metadata !== 'object' || m.metadata === null || typeof m.metadata.name !== 'string') {
      throw new KustomizeLiteError(`${file}: document ${i + 1} is not a Kubernetes object (apiVersion, kind, metadata.name)`);
    }
    out.push(m as Manifest);
  });
  return out;
}

function kustomizationFile(dir: string): string {
  for (const name of KUSTOMIZATION_FILES) {
    const file = join(dir, name);
    if (existsSync(file)) return file;
  }
  throw new KustomizeLiteError(`${dir}: no kustomization.yaml`);
}

/** Build the kustomization in `dir` into a list of manifests (files in `resources:` order). */
export function buildKustomization(dir: string): Manifest[] {
  return build(resolve(dir), []);
}

function build(dir: string, stack: readonly string[]): Manifest[] {
  if (stack.includes(dir)) throw new KustomizeLiteError(`cycle: ${[...stack, dir].join(' -> ')}`);
  const file = kustomizationFile(dir);
  const k = yaml.load(readFileSync(file, 'utf8')) as Record<string, unknown> | null;
  if (k === null || typeof k !== 'object') throw new KustomizeLiteError(`${file}: not a mapping`);
  for (const field of Object.keys(k)) {
    if (!SUPPORTED_FIELDS.has(field)) throw new KustomizeLiteError(`${file}: field "${field}" is not supported by kustomize-lite`);
  }
  const resources = k.resources ?? [];
  if (!Array.isArray(resources) || !resources.every((r) => typeof r === 'string')) {
    throw new KustomizeLiteError(`${file}: resources must be a list of paths`);
  }
  const objects: Manifest[] = [];
  for (const entry of resources as string[]) {
    const path = resolve(dir, entry);
    if (!existsSync(path)) throw new KustomizeLiteError(`${file}: resource "${entry}" does not exist`);
    objects.push(...(statSync(path).isDirectory() ? build(path, [...stack, dir]) : loadManifestFile(path)));
  }
  if (k.namespace !== undefined) {
    if (typeof k.namespace !== 'string' || k.namespace === '') throw new KustomizeLiteError(`${file}: namespace must be a name`);
    for (const m of objects) if (!isClusterScoped(m.kind)) m.metadata.namespace = k.namespace;
  }
  const seen = new Set<string>();
  for (const m of objects) {
    const id = manifestId(m);
    if (seen.has(id)) throw new KustomizeLiteError(`${file}: ${id} is defined twice`);
    seen.add(id);
  }
  return objects;
}
