// The one catalogue of errors the proxy answers with. Each has a stable code, an HTTP status
// and a short plain-text body naming the cause (never a stack trace). The README's error
// table is checked against this list by test/unit/errors.test.ts.

export interface ProxyErrorSpec {
  readonly code: string;
  readonly status: number;
  readonly message: string;
}

function spec(code: string, status: number, message: string): ProxyErrorSpec {
  return Object.freeze({ code, status, message });
}

export const ProxyErrors = Object.freeze({
  BAD_REQUEST: spec('SY_BAD_REQUEST', 400, 'Bad request'),
  FORBIDDEN: spec('SY_FORBIDDEN', 403, 'Forbidden: source address not allowed for this route'),
  NO_ROUTE: spec('SY_NO_ROUTE', 404, 'No route for this host and path'),
  REQUEST_TIMEOUT: spec('SY_REQUEST_TIMEOUT', 408, 'Request timeout: headers not received in time'),
  BODY_TIMEOUT: spec('SY_BODY_TIMEOUT', 408, 'Request timeout: the request body stalled'),
  METHOD_NOT_ALLOWED: spec('SY_METHOD_NOT_ALLOWED', 405, 'Method not allowed: the router opens no CONNECT tunnels'),
  MISDIRECTED: spec('SY_MISDIRECTED', 421, 'Misdirected request: host does not match the TLS server name'),
  RATE_LIMITED: spec('SY_RATE_LIMITED', 429, 'Too many requests'),
  HEADERS_TOO_LARGE: spec('SY_HEADERS_TOO_LARGE', 431, 'Request header fields too large'),
  INVALID_BACKEND: spec('SY_INVALID_BACKEND', 500, 'Internal error: the route rule has no valid backend for this request'),
  UPSTREAM_CONNECT: spec('SY_UPSTREAM_CONNECT', 502, 'Bad gateway: could not connect to the backend'),
  UPSTREAM_RESET: spec('SY_UPSTREAM_RESET', 502, 'Bad gateway: the backend closed the connection'),
  UPSTREAM_PROTOCOL: spec('SY_UPSTREAM_PROTOCOL', 502, 'Bad gateway: invalid response from the backend'),
  UPSTREAM_TLS: spec('SY_UPSTREAM_TLS', 502, 'Bad gateway: backend TLS verification failed'),
  MIDDLEWARE_ERROR: spec('SY_MIDDLEWARE_ERROR', 500, 'Internal error in a middleware of this route'),
  MIDDLEWARE_INVALID: spec('SY_MIDDLEWARE_INVALID', 500, 'Internal error: a middleware of this route is missing or invalid'),
  BODY_TOO_LARGE: spec('SY_BODY_TOO_LARGE', 413, 'Request body too large for this route'),
  ENDPOINT_BUSY: spec('SY_ENDPOINT_BUSY', 503, 'Service unavailable: the endpoint is at its concurrent-connection limit'),
  MIDDLEWARE_TIMEOUT: spec('SY_MIDDLEWARE_TIMEOUT', 504, 'Gateway timeout: a middleware of this route did not finish in time'),
  INTERNAL: spec('SY_INTERNAL', 500, 'Internal error in the router'),
  NO_ENDPOINT: spec('SY_NO_ENDPOINT', 503, 'Service unavailable: no ready and healthy endpoint'),
  ZERO_WEIGHT: spec('SY_ZERO_WEIGHT', 503, 'Service unavailable: every backend has weight 0'),
  UPSTREAM_TIMEOUT: spec('SY_UPSTREAM_TIMEOUT', 504, 'Gateway timeout: the backend did not answer in time'),
  GRPC_DEADLINE: spec('SY_GRPC_DEADLINE', 504, 'Gateway timeout: the gRPC deadline (grpc-timeout) passed'),
} satisfies Record<string, ProxyErrorSpec>);

export type ProxyErrorName = keyof typeof ProxyErrors;
