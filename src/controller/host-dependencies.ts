// Reverse indexes from the objects a compiled host entry read (Services and their
// EndpointSlices, Pods, Secrets) to the host keys that read them, so a change to one object
// recompiles exactly the hosts that depend on it.

import type { CompileDeps, HostDeps } from './compile-endpoints.ts';

/**
 * Host keys by object key: the host key itself while one host reads the object (nearly every
 * Service is read by one host), a Set from the second on. An empty Set is ~180 bytes, one per
 * Service of the cluster.
 */
type HostIndex = Map<string, string | Set<string>>;

function addTo(index: HostIndex, key: string, value: string): void {
  const hosts = index.get(key);
  if (hosts === undefined) index.set(key, value);
  else if (typeof hosts === 'string') { if (hosts !== value) index.set(key, new Set([hosts, value])); }
  else hosts.add(value);
}

function removeFrom(index: HostIndex, key: string, value: string): void {
  const hosts = index.get(key);
  if (hosts === value) index.delete(key);
  else if (typeof hosts === 'object') {
    hosts.delete(value);
    if (hosts.size === 1) index.set(key, hosts.values().next().value!);
  }
}

export class HostDependencyIndex {
  #byHost = new Map<string, CompileDeps | HostDeps>();
  #services: HostIndex = new Map();
  #pods: HostIndex = new Map();
  #secrets: HostIndex = new Map();

  /** Replace what a host depends on (null: nothing any more). */
  set(hostKey: string, deps: CompileDeps | HostDeps | null): void {
    const previous = this.#byHost.get(hostKey);
    if (previous) {
      for (const k of previous.services) removeFrom(this.#services, k, hostKey);
      for (const k of previous.pods) removeFrom(this.#pods, k, hostKey);
      for (const k of previous.secrets) removeFrom(this.#secrets, k, hostKey);
      this.#byHost.delete(hostKey);
    }
    if (!deps) return;
    this.#byHost.set(hostKey, deps);
    for (const k of deps.services) addTo(this.#services, k, hostKey);
    for (const k of deps.pods) addTo(this.#pods, k, hostKey);
    for (const k of deps.secrets) addTo(this.#secrets, k, hostKey);
  }

  /** Add to `into` the hosts depending on an object (`kind` Service, Pod or Secret; key `ns/name`). */
  collect(kind: 'Service' | 'Pod' | 'Secret', key: string | undefined, into: Set<string>): void {
    if (key === undefined) return;
    const index = kind === 'Service' ? this.#services : kind === 'Pod' ? this.#pods : this.#secrets;
    const hosts = index.get(key);
    if (typeof hosts === 'string') into.add(hosts);
    else if (hosts !== undefined) for (const h of hosts) into.add(h);
  }
}
