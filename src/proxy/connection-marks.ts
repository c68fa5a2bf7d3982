// Marks on accepted client sockets that the serving layer reads at drain time: which
// connections carry a tunnel (WebSocket/Upgrade, TLS passthrough) and so get the longer tunnel
// grace. Kept apart from serving.ts so the HTTPS listener can mark without importing it.

import type { Duplex } from 'node:stream';

const kTunnel = Symbol('switchyard.tunnel');

interface Marked { [kTunnel]?: true; _parent?: unknown }

/**
 * The accepted TCP socket under `socket`: itself, or for a TLS socket the socket it wraps. Node
 * keeps that in `_parent` (a long-standing internal); this is the one place that reads it.
 */
export function acceptedSocket(socket: Duplex): Duplex {
  const parent = (socket as Marked)._parent;
  return typeof parent === 'object' && parent !== null && typeof (parent as Duplex).destroy === 'function' ? parent as Duplex : socket;
}

/** The connection under `socket` now carries a tunnel. */
export function markTunnel(socket: Duplex): void {
  (acceptedSocket(socket) as Marked)[kTunnel] = true;
}

export function isTunnel(socket: Duplex): boolean {
  return (socket as Marked)[kTunnel] === true;
}
