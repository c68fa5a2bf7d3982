// `--access-log`: one JSON line per answered request (pino), written when the response
// finishes or the client goes away. Off by default; when off it costs one boolean check.

import type { Logger } from '../log.ts';
import type { AnyResponse } from './error-response.ts';
import type { AnyRequest } from './forward.ts';

const kAccess = Symbol('switchyard.access');

interface AccessRecord {
  logger: Logger;
  req: AnyRequest;
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
    client: req.socket.remoteAddress,
    method: req.method,
    host: req.headers.host ?? req.headers[':authority'],
    path: req.url,
    status: this.statusCode,
    completed: this.writableFinished,
    route: record.route,
    endpoint: record.endpoint,
    ms: Math.round((performance.now() - record.started) * 100) / 100,
    userAgent: req.headers['user-agent'],
  }, 'request');
}

export function trackAccess(logger: Logger, req: AnyRequest, res: AnyResponse): void {
  (res as unknown as Record<symbol, AccessRecord>)[kAccess] = { logger, req, started: performance.now(), route: '', endpoint: '' };
  res.once('close', onDone);
}

/** Record what the request was routed to (no-op unless tracked). */
export function noteRouting(res: AnyResponse, route: string, endpoint: string): void {
  const record = (res as unknown as Record<symbol, AccessRecord | undefined>)[kAccess];
  if (record !== undefined) { record.route = route; record.endpoint = endpoint; }
}
