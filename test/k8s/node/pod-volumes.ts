// A pod's volumes as directories under the pod's directory (see pod-environment.ts for how a
// container finds them): secret, configMap (with items, defaultMode and optional), downwardAPI,
// projected (secrets, configMaps, downwardAPI), and emptyDir. Files are replaced atomically
// (written beside, then renamed) when writeVolumes runs again after the objects change, as the
// kubelet refreshes them. Other volume types (hostPath, persistent volumes…) are refused with a
// reason: the pod does not start rather than run without them.

import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MissingReference, podField, resourceField, type ObjectLookup } from './pod-environment.ts';

export interface VolumeDirectory { name: string; directory: string }

interface FileEntry { relative: string; content: Buffer; mode: number }

function keyed(
  kind: 'secret' | 'configmap', name: string, object: { data?: Record<string, string>; binaryData?: Record<string, string> } | undefined,
  items: { key: string; path: string; mode?: number }[] | undefined, defaultMode: number, optional: boolean,
): FileEntry[] {
  if (!object) {
    if (optional) return [];
    throw new MissingReference(`${kind} "${name}" not found`);
  }
  const decode = (key: string): Buffer | undefined => {
    if (kind === 'secret') return object.data?.[key] === undefined ? undefined : Buffer.from(object.data[key]!, 'base64');
    if (object.data?.[key] !== undefined) return Buffer.from(object.data[key]!, 'utf8');
    return object.binaryData?.[key] === undefined ? undefined : Buffer.from(object.binaryData[key]!, 'base64');
  };
  if (!items) {
    const keys = [...Object.keys(object.data ?? {}), ...Object.keys(object.binaryData ?? {})];
    return keys.map((key) => ({ relative: key, content: decode(key)!, mode: defaultMode }));
  }
  return items.map((item) => {
    const content = decode(item.key);
    if (content === undefined) {
      if (optional) return undefined;
      throw new MissingReference(`${kind} "${name}" has no key "${item.key}"`);
    }
    return { relative: item.path, content, mode: item.mode ?? defaultMode };
  }).filter((e): e is FileEntry => e !== undefined);
}

function downward(pod: any, items: any[], defaultMode: number): FileEntry[] {
  return items.map((item) => {
    const value = item.fieldRef
      ? podField(pod, item.fieldRef.fieldPath)
      : resourceField(pod.spec.containers.find((c: any) => c.name === item.resourceFieldRef.containerName) ?? pod.spec.containers[0], item.resourceFieldRef);
    return { relative: item.path, content: Buffer.from(value), mode: item.mode ?? defaultMode };
  });
}

function volumeFiles(pod: any, volume: any, objects: ObjectLookup): FileEntry[] | 'directory' {
  const ns = pod.metadata.namespace as string;
  if (volume.emptyDir) return 'directory';
  if (volume.secret) {
    const s = volume.secret;
    return keyed('secret', s.secretName, objects.secret(ns, s.secretName), s.items, s.defaultMode ?? 0o644, s.optional === true);
  }
  if (volume.configMap) {
    const c = volume.configMap;
    return keyed('configmap', c.name, objects.configMap(ns, c.name), c.items, c.defaultMode ?? 0o644, c.optional === true);
  }
  if (volume.downwardAPI) return downward(pod, volume.downwardAPI.items ?? [], volume.downwardAPI.defaultMode ?? 0o644);
  if (volume.projected) {
    const mode = volume.projected.defaultMode ?? 0o644;
    return (volume.projected.sources ?? []).flatMap((source: any): FileEntry[] => {
      if (source.secret) return keyed('secret', source.secret.name, objects.secret(ns, source.secret.name), source.secret.items, mode, source.secret.optional === true);
      if (source.configMap) return keyed('configmap', source.configMap.name, objects.configMap(ns, source.configMap.name), source.configMap.items, mode, source.configMap.optional === true);
      if (source.downwardAPI) return downward(pod, source.downwardAPI.items ?? [], mode);
      throw new MissingReference(`volume "${volume.name}": projected source ${Object.keys(source).join(',')} is not supported by the test node`);
    });
  }
  const type = Object.keys(volume).find((k) => k !== 'name') ?? 'unknown';
  throw new MissingReference(`volume "${volume.name}": type ${type} is not supported by the test node`);
}

/**
 * Writes (or refreshes) every volume of the pod under `podDir/volumes/<name>`; throws
 * MissingReference while a Secret, ConfigMap or key it needs is missing (nothing is half-written
 * per file: each is renamed into place).
 */
export function writeVolumes(pod: any, podDir: string, objects: ObjectLookup): VolumeDirectory[] {
  const planned = (pod.spec.volumes ?? []).map((v: any) => ({ volume: v, files: volumeFiles(pod, v, objects) }));
  return planned.map(({ volume, files }: { volume: any; files: FileEntry[] | 'directory' }) => {
    const directory = path.join(podDir, 'volumes', volume.name);
    mkdirSync(directory, { recursive: true });
    if (files !== 'directory') {
      for (const f of files) {
        const target = path.join(directory, f.relative);
        if (!target.startsWith(directory + path.sep)) throw new MissingReference(`volume "${volume.name}": path ${f.relative} leaves the volume`);
        mkdirSync(path.dirname(target), { recursive: true });
        const temporary = `${target}.${process.pid}.tmp`;
        writeFileSync(temporary, f.content);
        chmodSync(temporary, f.mode & 0o777);
        renameSync(temporary, target);
      }
    }
    return { name: volume.name, directory };
  });
}
