// What an upstream failure means: the one place that decides, from undici's typed errors and
// Node's socket error codes, (1) the metrics reason, (2) the catalogue error the client gets and
// (3) whether it is the endpoint's fault — the only failures passive ejection counts. Used by
// every exchange (exchange.ts): plain requests, Upgrade tunnels and TLS passthrough.
//
// Counted (as HAProxy's `observe layer4`, nginx's `max_fails` with `proxy_next_upstream`
// defaults): connect failures (refused, unreachable, connect timeout), resets (the backend
// closed or reset the connection mid-exchange) and timeouts (no response headers or body data
// in time). Never counted: any HTTP status the backend answers (5xx included — the backend
// answered), invalid responses (a protocol error is a 502 for that request, not a sign the
// endpoint is down), backend TLS verification failures (configuration, not health), and
// anything the router or the client caused (undici refusing a request it cannot send, such as
// `OPTIONS *`; a client that went away or sent a short body).

import { errors } from 'undici';
import { ProxyErrors, type ProxyErrorSpec } from '../errors.ts';
import type { EndpointState } from '../health/endpoint-state.ts';

export type FailureReason = 'connect' | 'timeout' | 'reset' | 'tls' | 'protocol' | 'client' | 'router';

export interface UpstreamFailure {
  /** The `reason` label of switchyard_upstream_errors_total. */
  readonly reason: FailureReason;
  /** What the client is answered when nothing was sent yet. */
  readonly error: ProxyErrorSpec;
  /** Counts for passive ejection. */
  readonly endpointFault: boolean;
}

function failure(reason: FailureReason, error: ProxyErrorSpec, endpointFault: boolean): UpstreamFailure {
  return Object.freeze({ reason, error, endpointFault });
}

export const FAILURES = Object.freeze({
  connect: failure('connect', ProxyErrors.UPSTREAM_CONNECT, true),
  timeout: failure('timeout', ProxyErrors.UPSTREAM_TIMEOUT, true),
  reset: failure('reset', ProxyErrors.UPSTREAM_RESET, true),
  tls: failure('tls', ProxyErrors.UPSTREAM_TLS, false),
  protocol: failure('protocol', ProxyErrors.UPSTREAM_PROTOCOL, false),
  client: failure('client', ProxyErrors.BAD_REQUEST, false),
  router: failure('router', ProxyErrors.BAD_REQUEST, false),
  /** An HTTP/2 stream the backend reset: a reset, but of one stream, not of the endpoint. */
  streamReset: failure('reset', ProxyErrors.UPSTREAM_RESET, false),
  /** The client's gRPC deadline passed: the call's time ran out, not the endpoint's health. */
  grpcDeadline: failure('timeout', ProxyErrors.GRPC_DEADLINE, false),
});

/** Socket errors of a connection that never got established. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);
/** Socket errors of an established connection. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** Node's TLS errors and OpenSSL's verification errors. */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|ERR_OSSL|UNABLE_TO_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/;

/** No other member can take requests now: ejecting `endpoint` would leave the route none. */
export function isLastAvailable(members: ReadonlyArray<{ readonly endpoint: EndpointState; readonly weight: number }>, endpoint: EndpointState, now: number): boolean {
  for (const member of members) {
    if (member.endpoint !== endpoint && member.weight > 0 && member.endpoint.available(now)) return false;
  }
  return true;
}

/** Our own error for a response Node cannot forward (status out of range, bad reason phrase). */
export class InvalidUpstreamResponseError extends Error {
  readonly code = 'SY_INVALID_UPSTREAM_RESPONSE';
}

/**
 * An HTTP/2 backend reset one stream (RST_STREAM). The connection is fine and the backend
 * answered the stream, so it is not the endpoint's fault (no passive ejection), but the
 * response is incomplete: 502 before its headers, a reset stream after them.
 */
export class UpstreamStreamResetError extends Error {
  readonly code = 'SY_UPSTREAM_STREAM_RESET';
  /** The RST_STREAM error code (RFC 9113 §7). */
  readonly http2Code: number;
  readonly afterHeaders: boolean;
  constructor(http2Code: number, afterHeaders: boolean) {
    super(`backend reset the HTTP/2 stream (code ${http2Code}) ${afterHeaders ? 'after' : 'before'} the response headers`);
    this.http2Code = http2Code;
    this.afterHeaders = afterHeaders;
  }
}

/** The gRPC call's deadline (grpc-timeout) passed before it ended (http-exchange.ts). */
export class GrpcDeadlineError extends Error {
  readonly code = 'SY_GRPC_DEADLINE';
  constructor() {
    super('gRPC deadline (grpc-timeout) passed');
  }
}

/** Classify an error from undici's dispatch (HTTP/1.1 or the HTTP/2 pools) or a raw socket to the backend. */
export function classifyUpstreamFailure(error: unknown): UpstreamFailure {
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : '';
  if (error instanceof errors.ConnectTimeoutError || CONNECT_CODES.has(code)) return FAILURES.connect;
  if (error instanceof UpstreamStreamResetError) return FAILURES.streamReset;
  if (error instanceof GrpcDeadlineError) return FAILURES.grpcDeadline;
  if (error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError || code === 'ETIMEDOUT') return FAILURES.timeout;
  if (TLS_CODE.test(code)) return FAILURES.tls;
  if (error instanceof errors.RequestContentLengthMismatchError || error instanceof errors.RequestAbortedError) return FAILURES.client;
  // The router asked undici for something it cannot send (OPTIONS *, an invalid header): ours.
  if (error instanceof errors.InvalidArgumentError || error instanceof errors.NotSupportedError || error instanceof errors.ClientDestroyedError || error instanceof errors.ClientClosedError) return FAILURES.router;
  if (error instanceof errors.SocketError) {
    // undici's parser raises SocketError both for a closed/reset socket and for responses it
    // refuses ("bad response": an unsolicited 100 Continue; "bad upgrade"): only the first is a reset.
    return (error as Error).message.startsWith('bad ') ? FAILURES.protocol : FAILURES.reset;
  }
  if (RESET_CODES.has(code)) return FAILURES.reset;
  if (code === 'UND_ERR_ABORT' || code === 'UND_ERR_ABORTED') return FAILURES.client;
  if (code.startsWith('HPE_') || error instanceof errors.ResponseContentLengthMismatchError || error instanceof errors.HeadersOverflowError ||
      error instanceof InvalidUpstreamResponseError) return FAILURES.protocol;
  // Unknown: answer 502 but do not eject on a cause we cannot name.
  return FAILURES.protocol;
}
