// One raw JSON request to the Kubernetes API, authenticated by a KubeConfig exactly as the client
// library's own requests are (token, client certificate, CA, insecure-skip-tls-verify). Raw JSON
// keeps objects as the API serves them (timestamps as strings, no model classes), which is what
// the store holds, and reaches custom resources (route.openshift.io) without generated code.

import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { STATUS_CODES } from 'node:http';
import { request as undiciRequest, type Dispatcher } from 'undici';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** API path, e.g. `/apis/route.openshift.io/v1/namespaces/ns/routes/name/status` */
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** Defaults to application/json; PATCH callers pass the patch type. */
  contentType?: string;
  timeoutMs?: number;
}

/** A non-2xx answer: the HTTP status and the API's `Status` reason/message when it sent one. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly statusCode: number;
  readonly reason: string;
  constructor(statusCode: number, reason: string, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.reason = reason;
  }
}

const METHODS: Record<KubeRequest['method'], HttpMethod> = {
  GET: HttpMethod.GET, POST: HttpMethod.POST, PUT: HttpMethod.PUT, PATCH: HttpMethod.PATCH, DELETE: HttpMethod.DELETE,
};

export function apiUrl(kubeConfig: KubeConfig, path: string, query: Record<string, string | undefined> = {}): URL {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(key, value);
  return url;
}

/** Send one request; resolves with the parsed JSON body of a 2xx answer, rejects with KubeApiError otherwise. */
export async function kubeRequest<T = unknown>(kubeConfig: KubeConfig, request: KubeRequest): Promise<T> {
  const url = apiUrl(kubeConfig, request.path, request.query);
  const context = new RequestContext(url.toString(), METHODS[request.method]);
  await kubeConfig.applySecurityAuthentication(context);
  const headers: Record<string, string> = { ...context.getHeaders(), accept: 'application/json' };
  let body: string | undefined;
  if (request.body !== undefined) {
    body = JSON.stringify(request.body);
    headers['content-type'] = request.contentType ?? 'application/json';
  }
  // undici's request(), not fetch(): fetch reads the body through a web stream, which for a
  // list of 100k objects (hundreds of MB) cost seconds of a start-up in chunk handling.
  const response = await undiciRequest(url, {
    method: request.method,
    headers,
    body,
    dispatcher: context.getDispatcher() as Dispatcher | undefined,
    signal: AbortSignal.timeout(request.timeoutMs ?? 30_000),
  });
  const status = response.statusCode;
  const text = await response.body.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (status < 200 || status > 299) {
    const answer = parsed as { reason?: string; message?: string } | undefined;
    throw new KubeApiError(status, answer?.reason ?? 'Unknown',
      `${request.method} ${request.path}: ${status} ${answer?.message ?? STATUS_CODES[status] ?? ''}`);
  }
  if (parsed === undefined) throw new KubeApiError(status, 'InvalidResponse', `${request.method} ${request.path}: response is not JSON`);
  return parsed as T;
}
