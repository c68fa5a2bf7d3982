// What the router's spans say, after OpenTelemetry's HTTP semantic conventions (stable
// attributes only) plus switchyard's own: the server span of an exchange, the client span of
// each upstream attempt, and a passthrough connection's span. Built only for sampled exchanges.
// url.query is left out on purpose: query strings carry tokens, and spans leave the cluster.

import type { Attributes } from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_REQUEST_METHOD_ORIGINAL, ATTR_HTTP_ROUTE, ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT, ATTR_NETWORK_PROTOCOL_NAME, ATTR_NETWORK_PROTOCOL_VERSION, ATTR_NETWORK_TRANSPORT, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT,
  ATTR_URL_FULL, ATTR_URL_PATH, ATTR_URL_SCHEME, ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';

/** The methods semantic conventions name; any other is reported as _OTHER with the original kept. */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE', 'QUERY']);

/** switchyard's attribute names. */
export const ATTR_ROUTE_KEY = 'switchyard.route.key';
export const ATTR_ROUTE_KIND = 'switchyard.route.kind';
export const ATTR_ROUTE_NAMESPACE = 'switchyard.route.namespace';
export const ATTR_ROUTE_NAME = 'switchyard.route.name';
/** The endpoint (address:port) an attempt went to; on the server span, the one that answered. */
export const ATTR_ENDPOINT = 'switchyard.endpoint';
/** The plugin or Middleware that answered the request itself (redirect, deny, rate limit…). */
export const ATTR_ANSWERED_BY = 'switchyard.answered_by';
/** How the exchange ended: forwarded, answered, error, client-closed. */
export const ATTR_OUTCOME = 'switchyard.outcome';
/** Exchange kind: http, upgrade, passthrough. */
export const ATTR_EXCHANGE_KIND = 'switchyard.exchange';
/** Semantic-conventions event for a failure, with switchyard's phase and link attributes. */
export const EVENT_EXCEPTION = 'exception';
export const ATTR_PHASE = 'switchyard.phase';
export const ATTR_LINK = 'switchyard.middleware';

export interface RouteIdentity {
  readonly key: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface ServerSpanInput {
  readonly method: string;
  /** Origin-form request target (`/path?query`). */
  readonly target: string;
  readonly secure: boolean;
  /** Host header or :authority as received. */
  readonly host: string;
  readonly localPort: number | undefined;
  readonly peerAddress: string | undefined;
  readonly peerPort: number | undefined;
  /** The client's address as the router trusts it (PROXY protocol). */
  readonly clientAddress: string;
  readonly userAgent: string | undefined;
  /** '1.0', '1.1', '2.0' (Node's httpVersion). */
  readonly httpVersion: string;
  readonly kind: 'http' | 'upgrade';
  readonly route: RouteIdentity | null;
}

function methodAttributes(method: string, out: Attributes): void {
  if (KNOWN_METHODS.has(method)) {
    out[ATTR_HTTP_REQUEST_METHOD] = method;
  } else {
    out[ATTR_HTTP_REQUEST_METHOD] = '_OTHER';
    out[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = method;
  }
}

function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** `host`, `host:port`, `[v6]:port` → the host part, lower-cased. */
export function hostOnly(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return (end === -1 ? host : host.slice(1, end)).toLowerCase();
  }
  const colon = host.indexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}

function routeAttributes(route: RouteIdentity, out: Attributes): void {
  out[ATTR_ROUTE_KEY] = route.key;
  out[ATTR_ROUTE_KIND] = route.kind;
  out[ATTR_ROUTE_NAMESPACE] = route.namespace;
  out[ATTR_ROUTE_NAME] = route.name;
}

/** The server span's name: `{method} {http.route}`, or the method alone when no route matched. */
export function serverSpanName(method: string, route: RouteIdentity | null): string {
  const m = KNOWN_METHODS.has(method) ? method : 'HTTP';
  return route === null ? m : `${m} ${route.key}`;
}

export function serverSpanAttributes(input: ServerSpanInput): Attributes {
  const out: Attributes = {};
  methodAttributes(input.method, out);
  out[ATTR_URL_PATH] = pathOf(input.target);
  out[ATTR_URL_SCHEME] = input.secure ? 'https' : 'http';
  if (input.host !== '') out[ATTR_SERVER_ADDRESS] = hostOnly(input.host);
  if (input.localPort !== undefined) out[ATTR_SERVER_PORT] = input.localPort;
  out[ATTR_CLIENT_ADDRESS] = input.clientAddress;
  if (input.peerAddress !== undefined) out[ATTR_NETWORK_PEER_ADDRESS] = input.peerAddress;
  if (input.peerPort !== undefined) out[ATTR_NETWORK_PEER_PORT] = input.peerPort;
  out[ATTR_NETWORK_PROTOCOL_VERSION] = input.httpVersion === '2.0' ? '2' : input.httpVersion;
  if (input.userAgent !== undefined) out[ATTR_USER_AGENT_ORIGINAL] = input.userAgent;
  out[ATTR_EXCHANGE_KIND] = input.kind;
  if (input.route !== null) {
    out[ATTR_HTTP_ROUTE] = input.route.key;
    routeAttributes(input.route, out);
  }
  return out;
}

export interface AttemptInput {
  readonly method: string;
  /** Path (with query) sent upstream. */
  readonly path: string;
  readonly tls: boolean;
  readonly address: string;
  readonly port: number;
}

export function attemptSpanName(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'HTTP';
}

export function attemptAttributes(input: AttemptInput): Attributes {
  const out: Attributes = {};
  methodAttributes(input.method, out);
  const host = input.address.includes(':') ? `[${input.address}]` : input.address;
  out[ATTR_URL_FULL] = `${input.tls ? 'https' : 'http'}://${host}:${input.port}${pathOf(input.path)}`;
  out[ATTR_SERVER_ADDRESS] = input.address;
  out[ATTR_SERVER_PORT] = input.port;
  out[ATTR_NETWORK_PEER_ADDRESS] = input.address;
  out[ATTR_NETWORK_PEER_PORT] = input.port;
  out[ATTR_ENDPOINT] = `${host}:${input.port}`;
  return out;
}

export interface PassthroughInput {
  /** The server name of the ClientHello. */
  readonly sni: string;
  readonly peerAddress: string | undefined;
  readonly peerPort: number | undefined;
  readonly clientAddress: string;
  readonly localPort: number | undefined;
  readonly route: RouteIdentity;
}

export function passthroughSpanName(route: RouteIdentity): string {
  return `passthrough ${route.key}`;
}

export function passthroughAttributes(input: PassthroughInput): Attributes {
  const out: Attributes = {};
  out[ATTR_SERVER_ADDRESS] = input.sni;
  if (input.localPort !== undefined) out[ATTR_SERVER_PORT] = input.localPort;
  out[ATTR_CLIENT_ADDRESS] = input.clientAddress;
  if (input.peerAddress !== undefined) out[ATTR_NETWORK_PEER_ADDRESS] = input.peerAddress;
  if (input.peerPort !== undefined) out[ATTR_NETWORK_PEER_PORT] = input.peerPort;
  out[ATTR_NETWORK_TRANSPORT] = 'tcp';
  out[ATTR_NETWORK_PROTOCOL_NAME] = 'tls';
  out[ATTR_EXCHANGE_KIND] = 'passthrough';
  routeAttributes(input.route, out);
  return out;
}

/** The attempt span of a passthrough connection: the TCP connection to the endpoint. */
export function connectionAttemptAttributes(address: string, port: number): Attributes {
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    [ATTR_SERVER_ADDRESS]: address,
    [ATTR_SERVER_PORT]: port,
    [ATTR_NETWORK_PEER_ADDRESS]: address,
    [ATTR_NETWORK_PEER_PORT]: port,
    [ATTR_NETWORK_TRANSPORT]: 'tcp',
    [ATTR_ENDPOINT]: `${host}:${port}`,
  };
}
