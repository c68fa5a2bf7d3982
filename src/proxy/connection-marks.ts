// Marks on accepted client sockets: which connections carry a tunnel (WebSocket/Upgrade, TLS
// passthrough) and so get the longer tunnel grace at drain time, and which arrived on a
// Gateway's own address (the entry point whose listeners the proxy matches the request against).
// Kept apart from serving.ts so the listeners can mark without importing it.

import type { Duplex } from 'node:stream';
import type { GatewayEntryPoint } from '../table/types.ts';

const kTunnel = Symbol('switchyard.tunnel');
const kGatewayEntry = Symbol('switchyard.gatewayEntry');

/** The socket a connection was accepted on, for a Gateway's own address; `entry` follows table changes. */
export interface GatewayEntrySocket { readonly entry: GatewayEntryPoint }

interface Marked { [kTunnel]?: true; [kGatewayEntry]?: GatewayEntrySocket; _parent?: unknown }

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

/** The connection was accepted on a Gateway's own address and port. */
export function markGatewayEntry(socket: Duplex, listener: GatewayEntrySocket): void {
  (socket as Marked)[kGatewayEntry] = listener;
}

/**
 * The Gateway entry point a request's connection arrived on (`socket`: the request's socket,
 * plain, TLS or an HTTP/2 stream's session socket), or null for the router's shared ports.
 */
export function gatewayEntryOf(socket: Duplex | null | undefined): GatewayEntryPoint | null {
  if (socket == null) return null;
  const mark = (acceptedSocket(socket) as Marked)[kGatewayEntry];
  return mark === undefined ? null : mark.entry;
}
