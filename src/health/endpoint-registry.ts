// One EndpointState per distinct endpoint id, shared by every route that uses it, so a pod
// behind three routes is probed once, pooled once and ejected once. Routes acquire the states
// they reference when the proxy builds them and release them when they are replaced; the last
// release disposes of the state (closes its connection pool, gives back its shared slot) and
// tells listeners (the active monitor stops probing it). Registries made on one EndpointSlots
// (the health checks' and every proxy thread's) see one health and in-flight state per id.

import { EventEmitter } from 'node:events';
import { EndpointState } from './endpoint-state.ts';
import { EndpointSlots } from '../shared-memory/endpoint-slots.ts';

export interface EndpointAddress {
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

export interface EndpointRegistryEvents {
  /** The last reference to this endpoint was released; it is no longer in the registry. */
  remove: [state: EndpointState];
}

export class EndpointRegistry extends EventEmitter<EndpointRegistryEvents> {
  readonly #states = new Map<string, EndpointState>();
  readonly slots: EndpointSlots;

  /** `slots`: the shared slots to use (default: new ones, seen by this registry only). */
  constructor(slots: EndpointSlots = EndpointSlots.create()) {
    super();
    this.slots = slots;
  }

  /** The shared state for `endpoint` (created on first use), with one more reference. */
  acquire(endpoint: EndpointAddress): EndpointState {
    let state = this.#states.get(endpoint.id);
    if (state === undefined) {
      if (typeof endpoint.id !== 'string' || endpoint.id.length === 0) throw new TypeError('endpoint id must be a non-empty string');
      if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535) {
        throw new TypeError(`endpoint ${endpoint.id}: port ${endpoint.port} is not in 1-65535`);
      }
      state = new EndpointState(endpoint.id, endpoint.address, endpoint.port, this.slots, this.slots.acquire(endpoint.id));
      this.#states.set(endpoint.id, state);
    } else if (state.address !== endpoint.address || state.port !== endpoint.port) {
      // Ids are derived from address:port; two addresses with one id would send traffic to the wrong pod.
      throw new TypeError(`endpoint id ${endpoint.id} is already used by ${state.name}, not ${endpoint.address}:${endpoint.port}`);
    }
    state.refs++;
    return state;
  }

  /** Drop one reference; the last one removes the state, closes its pool and emits `remove`. */
  release(state: EndpointState): void {
    if (this.#states.get(state.id) !== state || state.refs <= 0) return; // already gone: releasing twice is harmless
    if (--state.refs > 0) return;
    this.#states.delete(state.id);
    state.detach();
    const pool = state.pool;
    state.pool = null;
    if (pool !== null) closeQuietly(pool);
    const connections = state.connections;
    state.connections = null;
    if (connections !== null) closeQuietly(connections);
    const h2Pool = state.h2Pool;
    state.h2Pool = null;
    if (h2Pool !== null) closeQuietly(h2Pool);
    this.emit('remove', state);
  }

  get(id: string): EndpointState | undefined {
    return this.#states.get(id);
  }

  values(): MapIterator<EndpointState> {
    return this.#states.values();
  }

  get size(): number {
    return this.#states.size;
  }
}

/** Close a pool without waiting: in-flight requests finish; a failure to close is of no interest. */
function closeQuietly(pool: { close(): Promise<void> }): void {
  try {
    pool.close().catch(ignore);
  } catch {
    // a pool already destroyed may throw synchronously
  }
}

function ignore(): void {}
