// Where an exchange meets tracing: its trace begun from the request (continuing the client's
// context or starting one), the span attributes read off the request, socket and route (only
// for sampled exchanges), and each upstream attempt's span and propagated context. Called once
// per exchange and once per attempt, only when tracing is on (the caller's one null check).

import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { SpanKind, type Attributes } from '@opentelemetry/api';
import type { TraceSampling } from '../table/types.ts';
import type { ExchangeTrace } from '../tracing/exchange-trace.ts';
import type { Tracing } from '../tracing/tracing.ts';
import {
  attemptAttributes, attemptSpanName, connectionAttemptAttributes, passthroughAttributes, passthroughSpanName,
  serverSpanAttributes, serverSpanName, type RouteIdentity,
} from '../tracing/span-attributes.ts';

const NO_ATTRIBUTES: Attributes = Object.freeze({}) as Attributes;

export interface HttpExchangeView {
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly secure: boolean;
  readonly clientAddress: string;
  readonly socket: Socket;
  readonly startedAt: number;
}

/** Begin the trace of an HTTP or Upgrade exchange (null: the route says never, or nothing to do). */
export function beginHttpTrace(
  tracing: Tracing, kind: 'http' | 'upgrade', exchange: HttpExchangeView, headers: IncomingHttpHeaders, httpVersion: string,
  route: RouteIdentity | null, sampling: TraceSampling,
): ExchangeTrace | null {
  const trace = tracing.begin(headers, sampling);
  if (trace !== null && trace.sampled) {
    const socket = exchange.socket;
    trace.startServer(serverSpanName(exchange.method, route), SpanKind.SERVER, serverSpanAttributes({
      method: exchange.method, target: exchange.url, secure: exchange.secure, host: exchange.host,
      localPort: socket.localPort, peerAddress: socket.remoteAddress, peerPort: socket.remotePort, clientAddress: exchange.clientAddress,
      userAgent: headers['user-agent'], httpVersion, kind, route,
    }), exchange.startedAt);
  }
  return trace;
}

/** A passthrough connection's trace: a new trace (nothing to read in an encrypted stream). */
export function beginPassthroughTrace(tracing: Tracing, socket: Socket, clientAddress: string, sni: string, route: RouteIdentity, sampling: TraceSampling, startedAt: number): ExchangeTrace | null {
  const trace = tracing.begin(null, sampling);
  if (trace !== null && trace.sampled) {
    trace.startServer(passthroughSpanName(route), SpanKind.SERVER, passthroughAttributes({
      sni, peerAddress: socket.remoteAddress, peerPort: socket.remotePort, clientAddress, localPort: socket.localPort, route,
    }), startedAt);
  }
  return trace;
}

/** An upstream HTTP attempt: its client span, and its context into `headers` (the flat list it sends). */
export function traceAttempt(trace: ExchangeTrace, method: string, path: string, tls: boolean, address: string, port: number, headers: string[] | null): void {
  trace.startAttempt(attemptSpanName(method), trace.sampled ? attemptAttributes({ method, path, tls, address, port }) : NO_ATTRIBUTES, headers);
}

/** A passthrough connection's attempt: the TCP connection to the endpoint. */
export function traceConnectionAttempt(trace: ExchangeTrace, address: string, port: number): void {
  trace.startAttempt('connect', trace.sampled ? connectionAttemptAttributes(address, port) : NO_ATTRIBUTES, null);
}
