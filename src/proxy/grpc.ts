// gRPC over the router: what a gRPC client can read when the router itself answers or cuts a
// call. A gRPC client reads the status from `grpc-status`/`grpc-message` (in the trailers, or in
// the headers of a trailers-only response) and nothing from an HTML or plain-text body: every
// answer the router writes to a gRPC request — an error of the catalogue, a plugin's answer,
// a call cut after its response began — is written here, as HTTP 200 with a gRPC status
// (the gRPC spec's PROTOCOL-HTTP2, and its HTTP-to-gRPC status mapping for plugin answers).

import type { OutgoingHttpHeaders } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { ProxyErrorSpec } from '../errors.ts';
import type { AnyResponse } from './http-message.ts';
import { UpstreamStreamResetError } from './upstream-failure.ts';

/** gRPC status codes (grpc/doc/statuscodes.md). */
export const GrpcStatus = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
});

const STATUS_NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL',
  'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

/** The metric label of a gRPC status: its name, or UNKNOWN for a value outside the 17 codes. */
export function grpcStatusName(code: number | string | undefined | null): string {
  const n = typeof code === 'string' ? Number(code) : code;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < STATUS_NAMES.length ? STATUS_NAMES[n]! : 'UNKNOWN';
}

/** A request is a gRPC call when its content-type is application/grpc (or +proto, +json…); gRPC-Web is not. */
export function isGrpcContentType(contentType: string | string[] | undefined): boolean {
  if (typeof contentType !== 'string' || contentType.length < 16) return false;
  if (contentType.charCodeAt(12) !== 103 /* 'g' */) return false; // application/g…: the cheap test first
  if (!contentType.startsWith('application/grpc')) return false;
  const next = contentType.charCodeAt(16);
  return Number.isNaN(next) || next === 43 /* '+' */ || next === 59 /* ';' */;
}

/** The gRPC request a response answers, if it is one (Node keeps the request on the response). */
export function isGrpcResponse(res: AnyResponse): boolean {
  const req = (res as { req?: { headers?: Record<string, string | string[] | undefined> } }).req;
  return req !== undefined && isGrpcContentType(req.headers?.['content-type']);
}

/** The gRPC spec's mapping of an HTTP status to the gRPC status a client reports. */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400: return GrpcStatus.INTERNAL;
    case 401: return GrpcStatus.UNAUTHENTICATED;
    case 403: return GrpcStatus.PERMISSION_DENIED;
    case 404: return GrpcStatus.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return GrpcStatus.UNAVAILABLE;
    default: return status >= 200 && status < 300 ? GrpcStatus.OK : GrpcStatus.UNKNOWN;
  }
}

/** Where a catalogue error says more than its HTTP status, the gRPC status that says it. */
const BY_CODE: Readonly<Record<string, number>> = Object.freeze({
  SY_UPSTREAM_TIMEOUT: GrpcStatus.DEADLINE_EXCEEDED,
  SY_MIDDLEWARE_TIMEOUT: GrpcStatus.DEADLINE_EXCEEDED,
  SY_GRPC_DEADLINE: GrpcStatus.DEADLINE_EXCEEDED,
  SY_RATE_LIMITED: GrpcStatus.RESOURCE_EXHAUSTED,
  SY_BODY_TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  SY_INTERNAL: GrpcStatus.INTERNAL,
  SY_MIDDLEWARE_ERROR: GrpcStatus.INTERNAL,
  // A GRPCRoute rule without a usable backend answers UNAVAILABLE (GRPCRoute spec, backendRefs).
  SY_INVALID_BACKEND: GrpcStatus.UNAVAILABLE,
});

export function grpcStatusForError(error: ProxyErrorSpec): number {
  return BY_CODE[error.code] ?? grpcStatusForHttp(error.status);
}

/**
 * The status a gRPC client gets when forwarding failed: CANCELLED when the backend cancelled the
 * stream (RST_STREAM CANCEL), else what the catalogue error says (UNAVAILABLE for connect
 * failures and resets, DEADLINE_EXCEEDED for timeouts).
 */
export function grpcStatusForUpstreamFailure(error: Error, spec: ProxyErrorSpec): number {
  if (error instanceof UpstreamStreamResetError && error.http2Code === 8 /* CANCEL */) return GrpcStatus.CANCELLED;
  return grpcStatusForError(spec);
}

/** grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2: space through '~' except '%' as is). */
export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Answer a gRPC request with a status and no message: a trailers-only response (one HEADERS
 * frame with END_STREAM over HTTP/2). `headers` (a plugin's, say) go with it.
 */
export function writeGrpcStatus(res: AnyResponse, grpcStatus: number, message: string, headers: OutgoingHttpHeaders | null = null, errorCode?: string): void {
  if (res.headersSent) {
    endGrpcCall(res, grpcStatus, message);
    return;
  }
  const r = res as import('node:http').ServerResponse;
  // Headers one by one rather than writeHead: over HTTP/2, Node sends writeHead()'s HEADERS at
  // once and an end() without data after them becomes an RST_STREAM, which gRPC clients read as
  // a call that ended without status.
  for (const name of r.getHeaderNames()) r.removeHeader(name);
  if (headers !== null) {
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined || name === 'content-length' || name === 'content-type') continue;
      try { r.setHeader(name, value); } catch { /* a field Node refuses is dropped */ }
    }
  }
  r.statusCode = 200;
  r.setHeader('content-type', 'application/grpc');
  r.setHeader('grpc-status', String(grpcStatus));
  if (message !== '') r.setHeader('grpc-message', encodeGrpcMessage(message));
  if (errorCode !== undefined) r.setHeader('x-switchyard-error', errorCode);
  if ((res as { stream?: unknown }).stream === undefined) r.setHeader('content-length', 0);
  r.end();
}

/**
 * The same over the core HTTP/2 stream API: a trailers-only response, one HEADERS frame with
 * END_STREAM. A field Node refuses is dropped.
 */
export function respondGrpcStatus(stream: ServerHttp2Stream, grpcStatus: number, message: string, headers: OutgoingHttpHeaders | null = null, errorCode?: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const out: OutgoingHttpHeaders = { ':status': 200 };
  if (headers !== null) {
    for (const name in headers) {
      const value = headers[name];
      const lower = name.toLowerCase();
      if (value === undefined || lower === 'content-length' || lower === 'content-type' || lower.charCodeAt(0) === 58 /* ':' */) continue;
      out[lower] = value;
    }
  }
  out['content-type'] = 'application/grpc';
  out['grpc-status'] = String(grpcStatus);
  if (message !== '') out['grpc-message'] = encodeGrpcMessage(message);
  if (errorCode !== undefined) out['x-switchyard-error'] = errorCode;
  try {
    stream.respond(out, { endStream: true });
  } catch {
    // a plugin's field Node refuses: the status alone
    const { ':status': status, 'content-type': type, 'grpc-status': code, 'grpc-message': text, 'x-switchyard-error': error } = out;
    const bare: OutgoingHttpHeaders = { ':status': status, 'content-type': type, 'grpc-status': code };
    if (text !== undefined) bare['grpc-message'] = text;
    if (error !== undefined) bare['x-switchyard-error'] = error;
    stream.respond(bare, { endStream: true });
  }
}

/** The trailers that end a gRPC call with a status. */
export function grpcTrailers(grpcStatus: number, message: string): OutgoingHttpHeaders {
  return message === '' ? { 'grpc-status': String(grpcStatus) } : { 'grpc-status': String(grpcStatus), 'grpc-message': encodeGrpcMessage(message) };
}

/** Answer a gRPC request with a catalogue error. */
export function writeGrpcError(res: AnyResponse, error: ProxyErrorSpec, headers: OutgoingHttpHeaders | null = null): void {
  writeGrpcStatus(res, grpcStatusForError(error), error.message, headers, error.code);
}

/**
 * End a gRPC call whose response already began (the backend failed mid-stream, a deadline):
 * the status goes in the trailers, so the client reads why instead of a reset stream.
 */
export function endGrpcCall(res: AnyResponse, grpcStatus: number, message: string): void {
  if (res.writableEnded) return;
  try {
    res.addTrailers(grpcTrailers(grpcStatus, message));
    res.end();
  } catch {
    // The stream is already gone.
  }
}

/** `grpc-timeout` (PROTOCOL-HTTP2: 1-8 digits and a unit H M S m u n) in ms; null when absent or invalid. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | null {
  if (typeof value !== 'string') return null;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return null;
  const n = Number(match[1]);
  switch (match[2]) {
    case 'H': return n * 3_600_000;
    case 'M': return n * 60_000;
    case 'S': return n * 1000;
    case 'm': return n;
    case 'u': return Math.ceil(n / 1000);
    default: return Math.ceil(n / 1_000_000);
  }
}
