// Reverse indexes from the objects a compiled host entry read (Services and their
// EndpointSlices, Pods, Secrets) to the host keys that read them, so a change to one object
// recompiles exactly the hosts that depend on it.

import type { CompileDeps, HostDeps } from './compile-endpoints.ts';
import { addTo, removeFrom, valuesOf, type KeyIndex } from '../key-index.ts';

export class HostDependencyIndex {
  #byHost = new Map<string, CompileDeps | HostDeps>();
  /** Host keys by object key (see key-index.ts: nearly every Service is read by one host). */
  #services: KeyIndex = new Map();
  #pods: KeyIndex = new Map();
  #secrets: KeyIndex = new Map();

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
    for (const host of valuesOf(index, key)) into.add(host);
  }
}
