// The relay's own error answers, as `Status` objects shaped as kube-apiserver writes them, so a
// client (client-go, the router's informer) reads them as it reads the API server's.

import type { ServerResponse } from 'node:http';

/**
 * An answer, HTTP/1.1 or HTTP/2: the relay uses only what node's HTTP/2 compatibility response
 * shares with ServerResponse (writeHead, write, end, destroy, 'drain' and 'close').
 */
export type RelayResponse = ServerResponse;

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  details?: Record<string, unknown>;
  code: number;
}

export function status(code: number, reason: string, message: string, details?: Record<string, unknown>): StatusBody {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** Write a Status as the whole answer. */
export function sendStatus(res: RelayResponse, body: StatusBody, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  (res as ServerResponse).writeHead(body.code, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export const unauthorized = (): StatusBody => status(401, 'Unauthorized', 'Unauthorized');

/** As kube-apiserver words it: `services is forbidden: User "u" cannot list resource "services" in API group "" in the namespace "ns"`. */
export function forbidden(user: string, read: { verb: string; group: string; resource: string; namespace: string | undefined; name: string | undefined }): StatusBody {
  const scope = read.namespace === undefined ? 'at the cluster scope' : `in the namespace "${read.namespace}"`;
  const subject = read.name === undefined ? read.resource : `${read.resource} "${read.name}"`;
  return status(403, 'Forbidden', `${subject} is forbidden: User "${user}" cannot ${read.verb} resource "${read.resource}" in API group "${read.group}" ${scope}`,
    { ...(read.name === undefined ? {} : { name: read.name }), group: read.group, kind: read.resource });
}

/** A watch ERROR event's Status for a resourceVersion older than the relay's window (the client lists again). */
export function expired(asked: string, oldest: number): StatusBody {
  return status(410, 'Expired', `too old resource version: ${asked} (${oldest})`);
}

/** A resourceVersion the relay has not reached within its wait: 504, retried by clients (kube-apiserver's "Too large resource version"). */
export function tooLarge(asked: string, current: number): StatusBody {
  return status(504, 'Timeout', `Too large resource version: ${asked}, current: ${current}`,
    { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
}

/** kube-apiserver's answer while a watch cache initializes: 429 with Retry-After, which clients retry. */
export function tooManyRequests(message: string): StatusBody {
  return status(429, 'TooManyRequests', message, { retryAfterSeconds: 1 });
}
