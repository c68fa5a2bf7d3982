// Which HTTP version a backend speaks. The Service port's `appProtocol` says it, as the Gateway
// API and Kubernetes name it (GEP-1911: `kubernetes.io/h2c`; IANA/ALPN-style `h2c`, `h2`; the
// common `grpc` and `http2`); a Route or Ingress may say it instead with the
// `switchyard.io/backend-protocol` annotation (for Services the user cannot change), which wins.
// GRPCRoute backends speak HTTP/2 unless their port says otherwise.
//
// The HTTP version only: whether it runs over TLS is the route's decision (a reencrypt route
// speaks TLS to its endpoints, with ALPN h2; every other route speaks cleartext, HTTP/2 by
// prior knowledge). Imports nothing, like the rest of table/.

export type BackendProtocol = 'http1' | 'http2';

export const BACKEND_PROTOCOL_ANNOTATION = 'switchyard.io/backend-protocol';

/** Annotation values: `http1`, or `h2c` / `h2` / `grpc` for HTTP/2 (the same thing here). */
export const BACKEND_PROTOCOL_VALUES = ['http1', 'h2c', 'h2', 'grpc'] as const;
export type BackendProtocolValue = typeof BACKEND_PROTOCOL_VALUES[number];

export function protocolOfAnnotation(value: BackendProtocolValue): BackendProtocol {
  return value === 'http1' ? 'http1' : 'http2';
}

const HTTP2_APP_PROTOCOLS = new Set(['kubernetes.io/h2c', 'h2c', 'kubernetes.io/h2', 'h2', 'grpc', 'grpcs', 'http2']);
const HTTP1_APP_PROTOCOLS = new Set(['http', 'https', 'http/1.1', 'kubernetes.io/http', 'kubernetes.io/ws', 'kubernetes.io/wss', 'ws', 'wss']);

/** What a Service port's appProtocol says; null when it says nothing about HTTP versions. */
export function protocolOfAppProtocol(appProtocol: string | null | undefined): BackendProtocol | null {
  if (appProtocol === null || appProtocol === undefined) return null;
  const value = appProtocol.trim().toLowerCase();
  if (HTTP2_APP_PROTOCOLS.has(value)) return 'http2';
  if (HTTP1_APP_PROTOCOLS.has(value)) return 'http1';
  return null;
}
