// Reverse indexes from the objects a compiled host entry read (Services and their
// EndpointSlices, Pods, Secrets) to the host keys that read them, so a change to one object
// recompiles exactly the hosts that depend on it.

import type { CompileDeps, HostDeps } from './compile-endpoints.ts';
import { addTo, removeFrom, valuesOf, type KeyIndex } from '../key-index.ts';

/**
 * What the index keeps of a host's deps: the one Service's key when that is all it read (nearly
 * every host: one Service, no Pod, no Secret), instead of a deps object and an array (~100
 * bytes per host).
 */
type KeptDeps = CompileDeps | HostDeps | string;

function servicesOf(deps: KeptDeps): Iterable<string> {
  return typeof deps === 'string' ? [deps] : deps.services;
}

export class HostDependencyIndex {
  #byHost = new Map<string, KeptDeps>();
  /** Host keys by object key (see key-index.ts: nearly every Service is read by one host). */
  #services: KeyIndex = new Map();
  #pods: KeyIndex = new Map();
  #secrets: KeyIndex = new Map();

  /** Replace what a host depends on (null: nothing any more). */
  set(hostKey: string, deps: CompileDeps | HostDeps | null): void {
    const previous = this.#byHost.get(hostKey);
    if (previous !== undefined) {
      for (const k of servicesOf(previous)) removeFrom(this.#services, k, hostKey);
      if (typeof previous !== 'string') {
        for (const k of previous.pods) removeFrom(this.#pods, k, hostKey);
        for (const k of previous.secrets) removeFrom(this.#secrets, k, hostKey);
      }
      this.#byHost.delete(hostKey);
    }
    if (!deps) return;
    const onlyService = sizeOf(deps.services) === 1 && sizeOf(deps.pods) === 0 && sizeOf(deps.secrets) === 0;
    this.#byHost.set(hostKey, onlyService ? deps.services.values().next().value! : deps);
    for (const k of deps.services) addTo(this.#services, k, hostKey);
    for (const k of deps.pods) addTo(this.#pods, k, hostKey);
    for (const k of deps.secrets) addTo(this.#secrets, k, hostKey);
  }

  /** Add to `into` the hosts depending on an object (`kind` Service, Pod or Secret; key `ns/name`). */
  collect(kind: 'Service' | 'Pod' | 'Secret', key: string | undefined, into: Set<string>): void {
    if (key === undefined) return;
    const index = kind === 'Service' ? this.#services : kind === 'Pod' ? this.#pods : this.#secrets;
    for (const host of valuesOf(index, key)) into.add(host);
  }
}

function sizeOf(keys: Set<string> | readonly string[]): number {
  return keys instanceof Set ? keys.size : keys.length;
}
