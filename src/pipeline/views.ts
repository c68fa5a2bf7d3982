// What plugins see of an exchange's surroundings — the route, the endpoints, a failure, the TLS
// connection — as read-only shapes. Types only: the context (context.ts) and the phase types
// (types.ts) both build on them.

import type { RouteKind } from '../table/types.ts';

export type ExchangeKind = 'http' | 'upgrade' | 'passthrough';
/** How the exchange ended (log phase). */
export type Outcome = 'pending' | 'forwarded' | 'answered' | 'error' | 'client-closed';

/** What a gRPC exchange calls (ctx.grpc): the service and method of its `/service/method` path. */
export interface GrpcCall {
  readonly service: string;
  readonly method: string;
}

/** The route a plugin serves: a frozen snapshot, no key material. */
export interface RouteInfo {
  /** `Route/ns/name`, `Ingress/ns/name/<rule>/<path>`, `HTTPRoute/ns/name/<rule>/<match>@<host>` */
  readonly key: string;
  readonly kind: RouteKind;
  readonly namespace: string;
  readonly name: string;
  readonly host: string;
  readonly path: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/** An endpoint as a plugin sees it: read-only. */
export interface EndpointInfo {
  /** Opaque, stable id (what sticky cookies carry; does not reveal the address). */
  readonly id: string;
  /** `address:port` (IPv6 bracketed). */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** Requests and tunnels in flight to it from this process. */
  readonly active: number;
  /** Can take new requests now: healthy by the active check and not passively ejected. */
  available(now?: number): boolean;
}

/** An endpoint the route may send to, with this route's weight for it. */
export interface EndpointCandidate {
  readonly endpoint: EndpointInfo;
  readonly weight: number;
  /** false while the endpoint is terminating: it finishes what it has, gets no new sessions. */
  readonly acceptsNew: boolean;
}

/** Why forwarding failed (the `reason` label of switchyard_upstream_errors_total). */
export type FailureReason = 'connect' | 'timeout' | 'reset' | 'tls' | 'protocol';

/** What the failure phase sees (ctx.failure): the last failed attempt. */
export interface FailureInfo {
  readonly reason: FailureReason;
  /** The catalogue code the router answers with unless a plugin answers (`SY_UPSTREAM_CONNECT`, …). */
  readonly code: string;
  /** Status of that answer (502, 504). */
  readonly status: number;
  /** The underlying error's message. */
  readonly message: string;
  /** The endpoint the failed attempt went to. */
  readonly endpoint: EndpointCandidate;
  /** Which attempt failed (1 = the first). */
  readonly attempt: number;
  /** The response head was already sent to the client: nothing can be answered or retried, the response is cut. */
  readonly responseStarted: boolean;
  /** ctx.retry() would be granted: nothing sent to the client yet, the request body (if any) can be sent again, attempts left. */
  readonly canRetry: boolean;
}

export interface TlsInfo {
  /** Server name the client sent in its ClientHello (null: none, or plain HTTP). */
  readonly sni: string | null;
  /** Protocol chosen by ALPN ('h2', 'http/1.1') or null. */
  readonly alpn: string | null;
  /** The route's TLS termination, null for a plain-HTTP route. */
  readonly termination: 'edge' | 'passthrough' | 'reencrypt' | null;
  /** The client connection is TLS (terminated here, or passed through). */
  readonly encrypted: boolean;
}

/** A value of a span attribute (OpenTelemetry's AttributeValue, without importing it). */
export type TraceAttributeValue = string | number | boolean | ReadonlyArray<string> | ReadonlyArray<number> | ReadonlyArray<boolean>;

/**
 * The exchange's trace as a plugin sees it (ctx.trace): its ids, for a log line or a header of
 * its own, and the router's server span to annotate — without importing OpenTelemetry. When
 * tracing is off, the route says `never`, or the exchange is not sampled, the ids say so and
 * setAttribute/addEvent do nothing. Invalid keys or values are dropped, as OpenTelemetry does.
 */
export interface TraceView {
  /** The trace id (32 lowercase hex digits); '' when the exchange is not traced. */
  readonly traceId: string;
  /** The router's server span id (16 hex digits); '' when the exchange is not recorded. */
  readonly spanId: string;
  /** Spans are recorded for this exchange: attributes and events go into the server span. */
  readonly sampled: boolean;
  /** Set an attribute on the server span (use a prefix of your own, e.g. `myplugin.user_tier`). */
  setAttribute(key: string, value: TraceAttributeValue): void;
  /** Add a timestamped event (now) to the server span. */
  addEvent(name: string, attributes?: Readonly<Record<string, TraceAttributeValue>>): void;
}

function noop(): void {}

/** The trace view of an exchange that is not traced. */
export const NO_TRACE: TraceView = Object.freeze({ traceId: '', spanId: '', sampled: false, setAttribute: noop, addEvent: noop });
