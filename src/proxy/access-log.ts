// `--access-log`: one JSON line per answered request (pino), written when the response
// finishes or the client goes away. Off by default; when off it costs one boolean check.
// The same fields whatever the protocol. The client address is read when the request arrives:
// an HTTP/2 stream that is gone no longer reaches its session's socket. A request the client
// abandoned before any response is logged 499 (nginx's "client closed request"), not the 200
// a response object starts with; `completed: false` says a response was cut short.

import type { Http2ServerResponse } from 'node:http2';
import type { Logger } from '../log.ts';
import type { AnyResponse } from './error-response.ts';
import type { AnyRequest } from './forward.ts';
import { clientAddress } from './headers.ts';

const kAccess = Symbol('switchyard.access');
/** The status of a request the client abandoned before any response (nginx's 499). */
const CLIENT_CLOSED = 499;
const NO_ERROR = 0;

interface AccessRecord {
  logger: Logger;
  req: AnyRequest;
  client: string;
  started: number;
  route: string;
  endpoint: string;
}

function onDone(this: AnyResponse): void {
  const record = (this as unknown as Record<symbol, AccessRecord | undefined>)[kAccess];
  if (record === undefined) return;
  (this as unknown as Record<symbol, AccessRecord | undefined>)[kAccess] = undefined;
  const req = record.req;
  record.logger.info({
    access: true,
    client: record.client,
    method: req.method,
    host: req.headers.host ?? req.headers[':authority'],
    path: req.url,
    status: this.headersSent ? this.statusCode : CLIENT_CLOSED,
    completed: completed(this),
    route: record.route,
    endpoint: record.endpoint,
    ms: Math.round((performance.now() - record.started) * 100) / 100,
    userAgent: req.headers['user-agent'],
  }, 'request');
}

/**
 * The response went out whole. An HTTP/2 response reports itself finished when its stream
 * closes, whoever closed it: the stream's close code says whether it ended normally.
 */
function completed(res: AnyResponse): boolean {
  const stream = (res as Http2ServerResponse).stream;
  if (stream !== undefined) return res.headersSent && stream.rstCode === NO_ERROR;
  return res.writableFinished;
}

export function trackAccess(logger: Logger, req: AnyRequest, res: AnyResponse): void {
  const client = clientAddress(req.socket?.remoteAddress);
  (res as unknown as Record<symbol, AccessRecord>)[kAccess] = { logger, req, client, started: performance.now(), route: '', endpoint: '' };
  res.once('close', onDone);
}

/** Record what the request was routed to (no-op unless tracked). */
export function noteRouting(res: AnyResponse, route: string, endpoint: string): void {
  const record = (res as unknown as Record<symbol, AccessRecord | undefined>)[kAccess];
  if (record !== undefined) { record.route = route; record.endpoint = endpoint; }
}
