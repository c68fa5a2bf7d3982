// A small subset of `kubectl kustomize`, for machines without kubectl: follows `resources:`
// (YAML files and directories holding a kustomization), applies `namespace:` and inline JSON 6902
// `patches:` (add/remove/replace, target by kind and name). Anything else
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
const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'patches']);

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
  applyPatches(file, k.patches, objects);
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

interface JsonPatchOp { op: string; path: string; value?: unknown }

/** `patches:` entries of the form { target: { kind, name }, patch: "<YAML list of JSON 6902 ops>" }. */
function applyPatches(file: string, patches: unknown, objects: Manifest[]): void {
  if (patches === undefined) return;
  if (!Array.isArray(patches)) throw new KustomizeLiteError(`${file}: patches must be a list`);
  for (const [i, entry] of patches.entries()) {
    const where = `${file}: patches[${i}]`;
    const { target, patch, ...rest } = (entry ?? {}) as { target?: Record<string, unknown>; patch?: unknown };
    if (Object.keys(rest).length > 0 || typeof patch !== 'string' || !target || typeof target.kind !== 'string' || typeof target.name !== 'string'
      || Object.keys(target).some((key) => key !== 'kind' && key !== 'name')) {
      throw new KustomizeLiteError(`${where}: only { target: { kind, name }, patch: <inline JSON 6902 list> } is supported`);
    }
    const ops = yaml.load(patch) as JsonPatchOp[];
    if (!Array.isArray(ops)) throw new KustomizeLiteError(`${where}: patch must be a JSON 6902 list (strategic merge is not supported)`);
    const matches = objects.filter((o) => o.kind === target.kind && o.metadata.name === target.name);
    if (matches.length === 0) throw new KustomizeLiteError(`${where}: no ${target.kind} ${target.name} to patch`);
    for (const m of matches) for (const op of ops) applyJsonPatchOp(where, m, op);
  }
}

function applyJsonPatchOp(where: string, doc: Record<string, unknown>, { op, path, value }: JsonPatchOp): void {
  if (typeof path !== 'string' || !path.startsWith('/')) throw new KustomizeLiteError(`${where}: bad path ${String(path)}`);
  const steps = path.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  const last = steps.pop()!;
  let parent: unknown = doc;
  for (const step of steps) {
    parent = parent !== null && typeof parent === 'object' ? (parent as Record<string, unknown>)[step] : undefined;
    if (parent === undefined) throw new KustomizeLiteError(`${where}: ${op} ${path}: ${step} does not exist`);
  }
  const container = parent as Record<string, unknown> & unknown[];
  const exists = Array.isArray(container) ? Number(last) < container.length : Object.hasOwn(container, last);
  if ((op === 'remove' || op === 'replace') && !exists) throw new KustomizeLiteError(`${where}: ${op} ${path}: nothing there`);
  if (op === 'remove') {
    if (Array.isArray(container)) container.splice(Number(last), 1);
    else delete container[last];
  } else if (op === 'replace' || (op === 'add' && !Array.isArray(container))) {
    container[last] = value;
  } else if (op === 'add') {
    container.splice(last === '-' ? container.length : Number(last), 0, value);
  } else {
    throw new KustomizeLiteError(`${where}: op "${op}" is not supported`);
  }
}
