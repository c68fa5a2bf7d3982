// The router's (and the autoport companion's) client of the Kubernetes API: raw JSON requests
// authenticated by a KubeConfig exactly as the client library's own requests are (token, client
// certificate, CA, insecure-skip-tls-verify), each carrying the caller's User-Agent. Raw JSON
// keeps objects as the API serves them (timestamps as strings, no model classes), which is what
// the store holds, and reaches custom resources (route.openshift.io) without generated code.

import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { STATUS_CODES } from 'node:http';
import { request as undiciRequest, type Dispatcher } from 'undici';
import { loadKubeConfig } from './kubeconfig.ts';
import { userAgent } from './user-agent.ts';

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
  /** The API's own message (a `Status` object's `message`), or the HTTP status text. */
  readonly detail: string;
  constructor(statusCode: number, reason: string, message: string, detail = '') {
    super(message);
    this.statusCode = statusCode;
    this.reason = reason;
    this.detail = detail;
  }
}

export interface KubeClientOptions {
  /** Sent on every request, e.g. `switchyard/0.1.0 (default; node-1)`; see userAgent(). */
  userAgent?: string;
}

const METHODS: Record<KubeRequest['method'], HttpMethod> = {
  GET: HttpMethod.GET, POST: HttpMethod.POST, PUT: HttpMethod.PUT, PATCH: HttpMethod.PATCH, DELETE: HttpMethod.DELETE,
};

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly userAgent: string | undefined;

  constructor(kubeConfig: KubeConfig, options: KubeClientOptions = {}) {
    if (!kubeConfig.getCurrentCluster()) throw new Error('kubeconfig has no current cluster');
    this.kubeConfig = kubeConfig;
    this.userAgent = options.userAgent;
  }

  /** The URL of an API path on this client's server. */
  url(path: string, query: Record<string, string | undefined> = {}): URL {
    const cluster = this.kubeConfig.getCurrentCluster()!;
    const url = new URL(cluster.server.replace(/\/+$/, '') + path);
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(key, value);
    return url;
  }

  /** Send one request; resolves with the parsed JSON body of a 2xx answer, rejects with KubeApiError otherwise. */
  async request<T = unknown>(request: KubeRequest): Promise<T> {
    const url = this.url(request.path, request.query);
    const context = new RequestContext(url.toString(), METHODS[request.method]);
    await this.kubeConfig.applySecurityAuthentication(context);
    const headers: Record<string, string> = { ...context.getHeaders(), accept: 'application/json' };
    if (this.userAgent) headers['user-agent'] = this.userAgent;
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
      const detail = answer?.message ?? (parsed === undefined && text !== '' ? text.slice(0, 200) : STATUS_CODES[status] ?? '');
      throw new KubeApiError(status, answer?.reason ?? 'Unknown', `${request.method} ${request.path}: ${status} ${detail}`, detail);
    }
    if (parsed === undefined) throw new KubeApiError(status, 'InvalidResponse', `${request.method} ${request.path}: response is not JSON`);
    return parsed as T;
  }

  /** Release connections (the process keeps no socket of this client open after it). */
  async close(): Promise<void> {}
}

/**
 * The client of a router or companion: the kubeconfig at `kubeconfig` (else in-cluster), a
 * User-Agent naming `component` and `name` (see user-agent.ts). Throws KubeConfigError.
 */
export function openKubeClient(options: { kubeconfig: string; name: string; component?: string }): KubeClient {
  return new KubeClient(loadKubeConfig(options.kubeconfig), { userAgent: userAgent(options.component ?? 'switchyard', options.name) });
}
