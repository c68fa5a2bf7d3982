// `--access-log`: one JSON line per exchange (pino) when it ends — plain HTTP, HTTP/2, Upgrade
// (when its tunnel closes) and TLS passthrough alike, with the same fields — and one for a
// request no route matched, and one per UDPRoute session when it ends (kind `udp`, with its
// datagrams each way). Off by default; when off it costs one boolean check. The client
// address is the one read when the request arrived (an HTTP/2 stream that is gone no longer
// reaches its session's socket); a request the client abandoned before any response is logged
// 499 (nginx's "client closed request"); `completed: false` says a response was cut short. With
// tracing on, the line carries the trace id (and the span id of a sampled exchange), to find
// the trace from the log and the log from the trace.

import type { Logger } from '../log.ts';
import type { Exchange } from './exchange.ts';

/** The fields of an access line (what `--access-log` writes, every way in). */
export interface AccessFields {
  kind: string;
  client: string;
  method: string;
  host: string | undefined;
  path: string;
  status: number;
  outcome: string;
  /** The response went out whole: not cut, the client did not leave. */
  completed: boolean;
  route: string;
  endpoint: string | null;
  attempts: number;
  ms: number;
  userAgent: string | undefined;
  /** With tracing on: the exchange's trace id, and its server span's id when sampled (else ''). */
  traceId?: string;
  spanId?: string;
  /** UDPRoute sessions: datagrams relayed to the endpoint and back to the client. */
  datagrams?: { toBackend: number; toClient: number };
}

export function writeAccessLine(logger: Logger, fields: AccessFields): void {
  logger.info({ access: true, ...fields }, 'request');
}

export function logExchange(logger: Logger, x: Exchange): void {
  writeAccessLine(logger, {
    kind: x.kind,
    client: x.clientAddress,
    method: x.method,
    host: x.host,
    path: x.url,
    status: x.status,
    outcome: x.outcome,
    completed: x.outcome === 'forwarded' || x.outcome === 'answered',
    route: x.runtime.label,
    endpoint: x.member?.endpoint.name ?? null,
    attempts: x.attempts,
    ms: Math.round(x.durationMs * 100) / 100,
    userAgent: x.headers['user-agent'],
    ...(x.trace !== null ? { traceId: x.trace.traceId, spanId: x.trace.spanId } : {}),
  });
}
