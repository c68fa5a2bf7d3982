// What a container sees, computed as the kubelet does: its environment (value, fieldRef,
// resourceFieldRef, secretKeyRef, configMapKeyRef, envFrom, and `$(VAR)` expansion in values,
// command and args), and its volumes — except that volumes are *mapped*, not mounted: each
// volume is a directory under the pod's directory, and every occurrence of a volume's mountPath
// in the container's command, args, env values and exec probe commands is rewritten to that
// directory (`/etc/secret-volume/crt` → `<pod dir>/volumes/secret-volume/crt`). A program that
// builds such a path itself, from pieces, does not find it; every program the node runs so far
// takes its paths from its env or args.

import { cpus, totalmem } from 'node:os';

/** Objects the environment may read, by `namespace/name`. */
export interface ObjectLookup {
  secret(namespace: string, name: string): { data?: Record<string, string> } | undefined;
  configMap(namespace: string, name: string): { data?: Record<string, string>; binaryData?: Record<string, string> } | undefined;
}

/** Thrown while a referenced object or key is missing (the kubelet's CreateContainerConfigError). */
export class MissingReference extends Error {}

/** A pod's field by downward-API path (metadata.name, metadata.labels['app'], status.podIP…). */
export function podField(pod: any, fieldPath: string): string {
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (label) return pod.metadata[label[1]!]?.[label[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name': return pod.metadata.name;
    case 'metadata.namespace': return pod.metadata.namespace;
    case 'metadata.uid': return pod.metadata.uid;
    case 'metadata.labels': return Object.entries(pod.metadata.labels ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'metadata.annotations': return Object.entries(pod.metadata.annotations ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'spec.nodeName': return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName ?? 'default';
    case 'status.hostIP': return pod.status?.hostIP ?? '';
    case 'status.hostIPs': return (pod.status?.hostIPs ?? []).map((a: { ip: string }) => a.ip).join(',');
    case 'status.podIP': return pod.status?.podIP ?? '';
    case 'status.podIPs': return (pod.status?.podIPs ?? []).map((a: { ip: string }) => a.ip).join(',');
    default: throw new MissingReference(`unsupported fieldPath ${fieldPath}`);
  }
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, m: 1e-3,
};

/** A Kubernetes quantity ("500m", "1Gi", "2") as a number. */
export function quantity(text: string): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(text).trim());
  if (!m || !(m[2]! in MEMORY_UNITS)) throw new MissingReference(`cannot read quantity ${text}`);
  return Number(m[1]) * MEMORY_UNITS[m[2]!]!;
}

/** resourceFieldRef: limits default to the node's allocatable, as the kubelet does; rounded up. */
export function resourceField(container: any, ref: { resource: string; divisor?: string }): string {
  const [kind, resource] = ref.resource.split('.') as [string, string];
  const fallback = resource === 'cpu' ? cpus().length : resource === 'memory' ? totalmem() : 0;
  const given = container.resources?.[kind]?.[resource] ?? (kind === 'requests' ? container.resources?.limits?.[resource] : undefined);
  const value = given !== undefined ? quantity(given) : kind === 'limits' ? fallback : 0;
  const divisor = quantity(ref.divisor ?? '1');
  return String(Math.ceil(value / divisor));
}

/** `$(VAR)` references replaced from `vars` (unknown ones kept as written; `$$` escapes). */
export function expand(text: string, vars: Map<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return vars.has(name!) ? vars.get(name!)! : whole;
  });
}

/** The container's environment in the kubelet's order (envFrom first, then env, later wins). */
export function containerEnv(pod: any, container: any, objects: ObjectLookup): Map<string, string> {
  const ns = pod.metadata.namespace as string;
  const vars = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    const prefix = source.prefix ?? '';
    const ref = source.secretRef ?? source.configMapRef;
    const object = source.secretRef ? objects.secret(ns, ref.name) : objects.configMap(ns, ref.name);
    if (!object) { if (ref.optional) continue; throw new MissingReference(`${source.secretRef ? 'secret' : 'configmap'} "${ref.name}" not found`); }
    for (const [k, v] of Object.entries(object.data ?? {})) {
      vars.set(prefix + k, source.secretRef ? Buffer.from(v, 'base64').toString('utf8') : v);
    }
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom === undefined) { vars.set(e.name, expand(e.value ?? '', vars)); continue; }
    const from = e.valueFrom;
    if (from.fieldRef) vars.set(e.name, podField(pod, from.fieldRef.fieldPath));
    else if (from.resourceFieldRef) {
      const target = from.resourceFieldRef.containerName
        ? pod.spec.containers.find((c: any) => c.name === from.resourceFieldRef.containerName) : container;
      vars.set(e.name, resourceField(target, from.resourceFieldRef));
    } else if (from.secretKeyRef || from.configMapKeyRef) {
      const ref = from.secretKeyRef ?? from.configMapKeyRef;
      const object = from.secretKeyRef ? objects.secret(ns, ref.name) : objects.configMap(ns, ref.name);
      const raw = object?.data?.[ref.key];
      if (raw === undefined) {
        if (ref.optional) continue;
        throw new MissingReference(`${from.secretKeyRef ? 'secret' : 'configmap'} "${ref.name}"${object ? ` has no key "${ref.key}"` : ' not found'}`);
      }
      vars.set(e.name, from.secretKeyRef ? Buffer.from(raw, 'base64').toString('utf8') : raw);
    } else throw new MissingReference(`env ${e.name}: unsupported valueFrom`);
  }
  return vars;
}

/** Rewrites mountPaths to the directories that stand for them (longest mountPath first). */
export class PathMap {
  readonly #mounts: { from: string; to: string }[];
  constructor(mounts: { mountPath: string; directory: string }[]) {
    this.#mounts = mounts
      .map((m) => ({ from: m.mountPath.replace(/\/+$/, ''), to: m.directory }))
      .sort((a, b) => b.from.length - a.from.length);
  }
  /**
   * Every occurrence of a mountPath that ends at a path boundary, rewritten — in one pass over the
   * text (the longest mountPath first at each position), so that a rewritten path is never
   * rewritten again (a mount at /tmp would otherwise rewrite the directory every other volume maps
   * to, itself under the system's /tmp).
   */
  map(text: string): string {
    let out = '';
    let i = 0;
    scan: while (i < text.length) {
      const before = i === 0 ? '' : text[i - 1]!;
      if (!/[A-Za-z0-9_.-]/.test(before)) {
        for (const { from, to } of this.#mounts) {
          if (from === '' || !text.startsWith(from, i)) continue;
          const after = text[i + from.length] ?? '';
          if (after !== '' && /[A-Za-z0-9_.-]/.test(after)) continue;
          out += to;
          i += from.length;
          continue scan;
        }
      }
      out += text[i];
      i++;
    }
    return out;
  }
}
