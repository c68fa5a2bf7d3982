// A small Kubernetes API server for tests, speaking the real wire protocol well enough for
// @kubernetes/client-node: LIST, WATCH (history window, 410 Gone, BOOKMARKs, timeoutSeconds),
// label/field selectors, GET/POST/PUT/PATCH/DELETE, the status subresource with optimistic
// concurrency (409), and fault injection (dropped/stalled watches, failing lists, compacted
// history, refused connections). Binds 127.0.0.1 on port 0 only.
//
//   const api = await FakeApiServer.start();
//   api.create({ apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: {...}, spec: {...} });
//   const kc = new KubeConfig(); kc.loadFromFile(api.kubeconfigPath);
//   …
//   await api.close();

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyJsonPatch, applyMergePatch, PatchError } from './fake-apiserver-patch.ts';
import { apiVersionOf, BY_KIND, parseApiPath, RESOURCES, type ResourceSpec } from './fake-apiserver-resources.ts';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './fake-apiserver-selectors.ts';
import { WatchStream, type ChangeEvent, type StoredObject } from './fake-apiserver-watch.ts';

export type { StoredObject } from './fake-apiserver-watch.ts';

export interface ObjectRef { kind: string; namespace?: string; name: string }

export interface FakeApiServerOptions {
  /** BOOKMARK interval for watches that ask for them (allowWatchBookmarks=true); null = never. */
  bookmarkIntervalMs?: number | null;
  /** Change events kept for watches resuming from a resourceVersion. */
  historySize?: number;
  /** Serve the Gateway API resources (as if their CRDs were installed), with discovery for them. */
  gatewayAPI?: boolean;
  /**
   * Stream lists (watch-list: `sendInitialEvents=true`), as kube-apiserver 1.34+ does; false
   * refuses them with 422 as a server with the WatchList feature off does. Default true.
   */
  watchList?: boolean;
}

export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

const TOKEN = 'fake-apiserver-token';

interface ListSnapshot { plural: string; rv: string; items: StoredObject[] }

export class FakeApiServer {
  readonly token = TOKEN;
  #server: Server;
  #port = 0;
  #dir: string;
  #kubeconfigPath = '';
  #objects = new Map<string, Map<string, StoredObject>>();
  #history: ChangeEvent[] = [];
  #historySize: number;
  /** Watches from a resourceVersion below this get 410 Gone. */
  #oldestRv = 1;
  #rv = 1;
  #watches = new Set<WatchStream>();
  #sockets = new Set<Socket>();
  #stalled = false;
  #listFailures: { status: number; remaining: number; continued: boolean } | null = null;
  #writeFailures: { status: number; remaining: number; retryAfterSeconds?: number } | null = null;
  #listCount = new Map<string, number>();
  #listVersions = new Map<string, string[]>();
  /** Continued pages served (limit/continue), by resource. */
  #pageCount = new Map<string, number>();
  /** Lists being paged through, by continue-token id. */
  #snapshots = new Map<string, ListSnapshot>();
  #snapshotIds = 0;
  #watchCount = new Map<string, number>();
  #watchListCount = new Map<string, number>();
  #writeCount = new Map<string, number>();
  #closed = false;
  bookmarkIntervalMs: number | null;
  /** TokenReviews and SubjectAccessReviews asked for. */
  reviewCount = 0;
  /** While set and pending, reviews are answered only once it settles. */
  reviewsHeld: Promise<void> | undefined;
  /** Called before each authenticated request is handled (tests use it to race a write). */
  onRequest: ((request: { method: string; path: string }) => void) | undefined;

  readonly #gatewayAPI: boolean;
  readonly #watchList: boolean;

  private constructor(options: FakeApiServerOptions) {
    this.bookmarkIntervalMs = options.bookmarkIntervalMs === undefined ? 1000 : options.bookmarkIntervalMs;
    this.#historySize = options.historySize ?? 10_000;
    this.#gatewayAPI = options.gatewayAPI ?? false;
    this.#watchList = options.watchList ?? true;
    this.#dir = mkdtempSync(join(tmpdir(), 'fake-apiserver-'));
    this.#server = this.#createServer();
  }

  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const api = new FakeApiServer(options);
    await api.#listen(0);
    api.#kubeconfigPath = join(api.#dir, 'kubeconfig');
    writeFileSync(api.#kubeconfigPath, api.kubeconfigYaml());
    return api;
  }

  get url(): string { return `http://127.0.0.1:${this.#port}`; }
  get port(): number { return this.#port; }
  /** A kubeconfig file pointing at this server (http, insecure-skip-tls-verify, token user). */
  get kubeconfigPath(): string { return this.#kubeconfigPath; }

  kubeconfigYaml(): string {
    return [
      'apiVersion: v1', 'kind: Config',
      'clusters:', '- name: fake', '  cluster:', `    server: ${this.url}`, '    insecure-skip-tls-verify: true',
      'users:', '- name: fake', '  user:', `    token: ${TOKEN}`,
      'contexts:', '- name: fake', '  context:', '    cluster: fake', '    user: fake',
      'current-context: fake', '',
    ].join('\n');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const watch of this.#watches) watch.destroy();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#dir, { recursive: true, force: true });
  }

  // ---- object helpers for tests (no HTTP; they work during refuseConnections too) ----------

  create<T extends object>(object: T): StoredObject & T {
    return this.#create(this.#resourceOf(object), structuredClone(object) as unknown as StoredObject) as StoredObject & T;
  }

  /** Replace an object whole (spec, metadata and status), whatever its metadata.resourceVersion says. */
  update<T extends object>(object: T): StoredObject & T {
    const obj = structuredClone(object) as unknown as StoredObject;
    const resource = this.#resourceOf(object);
    return this.#replace(resource, obj.metadata.namespace, obj.metadata.name, obj, 'all') as StoredObject & T;
  }

  /** Create or replace. */
  apply<T extends object>(object: T): StoredObject & T {
    const obj = object as unknown as StoredObject;
    return this.get({ kind: this.#resourceOf(object).kind, namespace: obj.metadata.namespace, name: obj.metadata.name })
      ? this.update(object) : this.create(object);
  }

  delete(ref: ObjectRef): boolean {
    const resource = this.#resourceByKind(ref.kind);
    try {
      this.#delete(resource, ref.namespace, ref.name);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return false;
      throw err;
    }
  }

  get<T = StoredObject>(ref: ObjectRef): T | undefined {
    const resource = this.#resourceByKind(ref.kind);
    const found = this.#table(resource).get(this.#key(resource, ref.namespace, ref.name));
    return found ? structuredClone(found) as T : undefined;
  }

  list(kind: string): StoredObject[] {
    return [...this.#table(this.#resourceByKind(kind)).values()].map((o) => structuredClone(o));
  }

  // ---- counters -------------------------------------------------------------------------

  /** LIST requests served (or failed) for a resource, by kind (`Route`) or plural (`routes`). */
  listRequests(kind: string): number { return this.#listCount.get(this.#plural(kind)) ?? 0; }
  /** The resourceVersion (and resourceVersionMatch) each list of `kind` asked for on its first page, '' for none: a consistent read. */
  listVersions(kind: string): string[] { return this.#listVersions.get(this.#plural(kind)) ?? []; }
  /** Reads of the whole state of a kind: lists (first pages) and watch-lists. */
  stateRequests(kind: string): number { return this.listRequests(kind) + this.watchListRequests(kind); }
  /** Pages after the first served for lists of this kind (limit/continue). */
  continuedPages(kind: string): number { return this.#pageCount.get(this.#plural(kind)) ?? 0; }
  watchRequests(kind: string): number { return this.#watchCount.get(this.#plural(kind)) ?? 0; }
  /** Watches that asked for the initial state (watch-list, sendInitialEvents=true), a subset of watchRequests. */
  watchListRequests(kind: string): number { return this.#watchListCount.get(this.#plural(kind)) ?? 0; }
  /** Mutating HTTP requests (PUT/PATCH/POST/DELETE, any subresource) received for one object. */
  writes(ref: ObjectRef): number {
    const resource = this.#resourceByKind(ref.kind);
    return this.#writeCount.get(`${resource.plural}/${this.#key(resource, ref.namespace, ref.name)}`) ?? 0;
  }
  openWatches(kind?: string): number {
    let n = 0;
    for (const w of this.#watches) if (!kind || w.resource.plural === this.#plural(kind)) n++;
    return n;
  }
  get resourceVersion(): number { return this.#rv; }

  // ---- fault injection ------------------------------------------------------------------

  /** Destroy every open watch socket. */
  dropWatches(): void {
    for (const watch of [...this.#watches]) watch.destroy();
  }

  /** Every open watch that asked for bookmarks gets one now (stalled ones send nothing). */
  sendBookmarks(): void {
    for (const watch of this.#watches) watch.bookmark();
  }

  /** While on, watches (open and new) stay connected but send nothing, not even bookmarks. */
  stallWatches(on: boolean): void {
    this.#stalled = on;
    for (const watch of this.#watches) watch.stall(on);
  }

  /**
   * The next `count` writes to an object (PUT/PATCH/POST/DELETE by name) fail with this status, as
   * API Priority and Fairness refuses requests it cannot queue (429 with Retry-After).
   */
  failWrites(status: 429 | 500, count: number, retryAfterSeconds?: number): void {
    this.#writeFailures = count > 0 ? { status, remaining: count, retryAfterSeconds } : null;
  }

  /**
   * The next `count` reads of a whole state (LIST requests, and watch-list requests) fail with this
   * status; with `continued`, only pages after a list's first.
   */
  failLists(status: 500 | 429, count: number, options: { continued?: boolean } = {}): void {
    this.#listFailures = count > 0 ? { status, remaining: count, continued: options.continued ?? false } : null;
  }

  /**
   * Compact the history: any watch from a resourceVersion up to now gets 410 Gone.
   * With `notifyOpenWatches`, open watches get the 410 ERROR event at once and end.
   */
  expireResourceVersions(options: { notifyOpenWatches?: boolean } = {}): void {
    this.#rv++;
    this.#oldestRv = this.#rv;
    this.#history = [];
    this.#snapshots.clear(); // continue tokens expire with the history
    if (options.notifyOpenWatches) {
      for (const watch of [...this.#watches]) watch.expire(String(this.#rv - 1));
    }
  }

  /**
   * Stop listening and cut every connection; listen again on the same port after `ms`, or once
   * `until` settles (an outage as long as the test needs, not a guess). Resolves when back.
   */
  async refuseConnections(until: number | Promise<unknown>): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const watch of [...this.#watches]) watch.destroy();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    if (typeof until === 'number') await new Promise((resolve) => setTimeout(resolve, until));
    else await until.catch(() => {});
    if (this.#closed) return;
    this.#server = this.#createServer();
    await this.#listen(this.#port);
  }

  // ---- HTTP -----------------------------------------------------------------------------

  #createServer(): Server {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#fail(res, err));
    });
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    return server;
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        this.#port = (this.#server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    this.onRequest?.({ method: req.method ?? 'GET', path: url.pathname });
    const discovery = /^\/apis\/(gateway\.networking\.k8s\.io)\/(v1|v1beta1)$/.exec(url.pathname);
    if (discovery && this.#gatewayAPI && req.method === 'GET') {
      const resources = RESOURCES.filter((r) => r.group === discovery[1] && r.version === discovery[2])
        .map((r) => ({ name: r.plural, kind: r.kind, namespaced: r.namespaced, verbs: ['get', 'list', 'watch', 'update'] }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${discovery[1]}/${discovery[2]}`, resources }));
      return;
    }
    // The reviews a kube relay asks for: the fake's token authenticates (as `fake-user`), every
    // access is allowed; held while `reviewsHeld` is pending (an API server slow to review).
    if (req.method === 'POST' && /^\/apis\/(authentication|authorization)\.k8s\.io\/v1\/(tokenreviews|subjectaccessreviews)$/.test(url.pathname)) {
      const review = JSON.parse(await readBody(req)) as { kind?: string; spec?: { token?: string } };
      this.reviewCount++;
      await this.reviewsHeld;
      const status = review.kind === 'TokenReview'
        ? { authenticated: review.spec?.token === TOKEN, user: { username: 'fake-user', groups: ['system:authenticated'] } }
        : { allowed: true };
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...review, status }));
      return;
    }
    if (url.pathname === '/version' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ major: '1', minor: '36', gitVersion: 'v1.36.0-fake' }));
      return;
    }
    const parsed = parseApiPath(url.pathname);
    if (!this.#gatewayAPI && parsed?.resource.group === 'gateway.networking.k8s.io') throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    if (!parsed) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    const { resource, namespace, name, subresource } = parsed;
    if (subresource !== undefined && subresource !== 'status') {
      throw new ApiError(404, 'NotFound', `subresource ${subresource} not supported`);
    }
    const method = req.method ?? 'GET';
    const body = method === 'GET' || method === 'DELETE' ? undefined : await readBody(req);
    if (method !== 'GET' && name !== undefined) {
      const key = `${resource.plural}/${this.#key(resource, namespace, name)}`;
      this.#writeCount.set(key, (this.#writeCount.get(key) ?? 0) + 1);
      if (this.#writeFailures) {
        const { status, retryAfterSeconds } = this.#writeFailures;
        if (--this.#writeFailures.remaining <= 0) this.#writeFailures = null;
        if (retryAfterSeconds !== undefined) res.setHeader('retry-after', String(retryAfterSeconds));
        throw new ApiError(status, status === 429 ? 'TooManyRequests' : 'InternalError', `injected write failure ${status}`);
      }
    }
    if (name === undefined) {
      if (method === 'GET' && url.searchParams.get('watch') === 'true') return this.#watch(resource, namespace, url, res);
      if (method === 'GET') return this.#list(resource, namespace, url, res);
      if (method === 'POST') {
        const obj = parseJson(body) as StoredObject;
        if (!obj || typeof obj !== 'object' || !obj.metadata) throw new ApiError(400, 'BadRequest', 'object has no metadata');
        if (resource.namespaced) obj.metadata.namespace = namespace ?? obj.metadata.namespace ?? 'default';
        return send(res, 201, this.#create(resource, obj));
      }
      throw new ApiError(405, 'MethodNotAllowed', `${method} not allowed on a collection`);
    }
    switch (method) {
      case 'GET': {
        const found = this.#table(resource).get(this.#key(resource, namespace, name));
        if (!found) throw notFound(resource, name);
        return send(res, 200, found);
      }
      case 'PUT': {
        const obj = parseJson(body) as StoredObject;
        if (!obj || typeof obj !== 'object' || !obj.metadata) throw new ApiError(400, 'BadRequest', 'object has no metadata');
        if (obj.metadata.name !== name) throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name in the URL');
        const part = subresource === 'status' ? 'status' : resource.statusSubresource ? 'main' : 'all';
        return send(res, 200, this.#replace(resource, namespace, name, obj, part, true));
      }
      case 'PATCH': {
        const current = this.#table(resource).get(this.#key(resource, namespace, name));
        if (!current) throw notFound(resource, name);
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const patch = parseJson(body);
        let patched: unknown;
        try {
          if (type === 'application/json-patch+json') patched = applyJsonPatch(current, patch);
          else if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') patched = applyMergePatch(current, patch);
          else throw new ApiError(415, 'UnsupportedMediaType', `unsupported patch type "${type}"`);
        } catch (err) {
          if (err instanceof PatchError) throw new ApiError(422, 'Invalid', err.message);
          throw err;
        }
        const obj = patched as StoredObject;
        if (!obj || typeof obj !== 'object') throw new ApiError(422, 'Invalid', 'patch did not produce an object');
        obj.metadata = { ...(obj.metadata ?? {}), name, namespace: current.metadata.namespace };
        const part = subresource === 'status' ? 'status' : resource.statusSubresource ? 'main' : 'all';
        return send(res, 200, this.#replace(resource, namespace, name, obj, part, true));
      }
      case 'DELETE':
        return send(res, 200, this.#delete(resource, namespace, name));
      default:
        throw new ApiError(405, 'MethodNotAllowed', `${method} not allowed`);
    }
  }

  #list(resource: ResourceSpec, namespace: string | undefined, url: URL, res: ServerResponse): void {
    const continueToken = url.searchParams.get('continue') ?? '';
    // A list is counted once, on its first page.
    if (continueToken === '') {
      this.#listCount.set(resource.plural, (this.#listCount.get(resource.plural) ?? 0) + 1);
      const asked = `${url.searchParams.get('resourceVersion') ?? ''} ${url.searchParams.get('resourceVersionMatch') ?? ''}`.trim();
      this.#listVersions.set(resource.plural, [...(this.#listVersions.get(resource.plural) ?? []), asked]);
    }
    if (continueToken !== '') this.#pageCount.set(resource.plural, (this.#pageCount.get(resource.plural) ?? 0) + 1);
    if (this.#listFailures && (!this.#listFailures.continued || continueToken !== '')) {
      const { status } = this.#listFailures;
      if (--this.#listFailures.remaining <= 0) this.#listFailures = null;
      if (status === 429) res.setHeader('retry-after', '0');
      throw new ApiError(status, status === 429 ? 'TooManyRequests' : 'InternalError', `injected list failure ${status}`);
    }
    // Pagination (limit/continue), as the API server does it: every page comes from the snapshot
    // taken at the first one, at its resourceVersion; a token outlives no compaction (410 Expired).
    let snapshot: ListSnapshot | undefined;
    let offset = 0;
    if (continueToken !== '') {
      const [id, at] = continueToken.split(':');
      snapshot = this.#snapshots.get(id!);
      offset = Number(at);
      if (!snapshot || snapshot.plural !== resource.plural || !Number.isInteger(offset)) {
        throw new ApiError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      }
    } else {
      const labels = selector(() => parseLabelSelector(url.searchParams.get('labelSelector')));
      const fields = selector(() => parseFieldSelector(url.searchParams.get('fieldSelector')));
      const keyed: Array<[string, StoredObject]> = [];
      for (const o of this.#table(resource).values()) {
        if ((namespace === undefined || o.metadata.namespace === namespace) && labels(o) && fields(o)) keyed.push([this.#key(resource, o.metadata.namespace, o.metadata.name), o]);
      }
      keyed.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      snapshot = { plural: resource.plural, rv: String(this.#rv), items: keyed.map((k) => k[1]) };
    }
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const end = limit > 0 ? Math.min(snapshot.items.length, offset + limit) : snapshot.items.length;
    const metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number } = { resourceVersion: snapshot.rv };
    const id = continueToken === '' ? String(++this.#snapshotIds) : continueToken.split(':')[0]!;
    if (end < snapshot.items.length) {
      this.#snapshots.set(id, snapshot);
      metadata.continue = `${id}:${end}`;
      metadata.remainingItemCount = snapshot.items.length - end;
    } else {
      this.#snapshots.delete(id);
    }
    send(res, 200, {
      apiVersion: apiVersionOf(resource), kind: `${resource.kind}List`, metadata,
      // Real API servers leave kind/apiVersion out of list items; so do we.
      items: snapshot.items.slice(offset, end).map(({ kind, apiVersion, ...rest }) => { void kind; void apiVersion; return rest; }),
    });
  }

  #watch(resource: ResourceSpec, namespace: string | undefined, url: URL, res: ServerResponse): void {
    // Validated as kube-apiserver does (apimachinery's internalversion validation).
    const sendInitialEvents = url.searchParams.get('sendInitialEvents') === 'true';
    if (url.searchParams.has('sendInitialEvents') || url.searchParams.has('resourceVersionMatch')) {
      if (!this.#watchList) throw new ApiError(422, 'Invalid', 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled');
      if (url.searchParams.get('resourceVersionMatch') !== 'NotOlderThan') throw new ApiError(422, 'Invalid', 'resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
      if (url.searchParams.get('allowWatchBookmarks') !== 'true') throw new ApiError(422, 'Invalid', 'allowWatchBookmarks: Forbidden: sendInitialEvents requires allowWatchBookmarks=true');
    }
    const rvText = url.searchParams.get('resourceVersion') ?? '';
    const watchList = sendInitialEvents && rvText === '';
    if (watchList) {
      this.#watchListCount.set(resource.plural, (this.#watchListCount.get(resource.plural) ?? 0) + 1);
      if (this.#listFailures && !this.#listFailures.continued) {
        const { status } = this.#listFailures;
        if (--this.#listFailures.remaining <= 0) this.#listFailures = null;
        if (status === 429) res.setHeader('retry-after', '0');
        throw new ApiError(status, status === 429 ? 'TooManyRequests' : 'InternalError', `injected list failure ${status}`);
      }
    }
    this.#watchCount.set(resource.plural, (this.#watchCount.get(resource.plural) ?? 0) + 1);
    const labels = selector(() => parseLabelSelector(url.searchParams.get('labelSelector')));
    const fields = selector(() => parseFieldSelector(url.searchParams.get('fieldSelector')));
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '');
    const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
    const watch = new WatchStream(res, {
      resource, namespace, labels, fields,
      bookmarkIntervalMs: bookmarks ? this.bookmarkIntervalMs : null,
      timeoutMs: timeoutSeconds > 0 ? timeoutSeconds * 1000 : null,
      allowBookmarks: bookmarks,
      stalled: this.#stalled,
      currentRv: () => this.#rv,
      onClose: (w) => this.#watches.delete(w),
    });
    this.#watches.add(watch);
    if (watchList) {
      // Watch-list: the current state as ADDED events, a bookmark marking their end, then changes.
      for (const object of this.#table(resource).values()) if (watch.matches(object)) watch.send('ADDED', object);
      watch.initialEventsEnd();
      return;
    }
    if (rvText === '' || rvText === '0') {
      // "Any version": the current state as ADDED events, then changes.
      for (const object of this.#table(resource).values()) if (watch.matches(object)) watch.send('ADDED', object);
      return;
    }
    const rv = Number(rvText);
    if (!Number.isInteger(rv) || rv < this.#oldestRv) {
      watch.expire(rvText);
      return;
    }
    for (const event of this.#history) if (event.rv > rv && event.plural === resource.plural) watch.deliver(event);
  }

  #fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) { res.destroy(); return; }
    if (err instanceof ApiError) {
      send(res, err.code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: err.message, reason: err.reason, code: err.code });
    } else {
      send(res, 500, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: String(err), reason: 'InternalError', code: 500 });
    }
  }

  // ---- the object store -----------------------------------------------------------------

  #create(resource: ResourceSpec, obj: StoredObject): StoredObject {
    if (!obj.metadata?.name) {
      const prefix = (obj.metadata as { generateName?: string } | undefined)?.generateName;
      if (!prefix) throw new ApiError(422, 'Invalid', 'metadata.name: Required value');
      obj.metadata.name = `${prefix}${randomUUID().slice(0, 5)}`;
    }
    if (resource.namespaced) obj.metadata.namespace ??= 'default';
    else delete obj.metadata.namespace;
    const key = this.#key(resource, obj.metadata.namespace, obj.metadata.name);
    if (this.#table(resource).has(key)) throw new ApiError(409, 'AlreadyExists', `${resource.plural} "${obj.metadata.name}" already exists`);
    obj.apiVersion = apiVersionOf(resource);
    obj.kind = resource.kind;
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    obj.metadata['generation'] = 1;
    obj.metadata.resourceVersion = String(++this.#rv);
    this.#table(resource).set(key, obj);
    this.#record(resource, 'ADDED', undefined, obj);
    return obj;
  }

  /**
   * Replace an object. `part`: 'all' (test helper), 'main' (spec/metadata, stored status kept),
   * 'status' (status only). `checkRv`: a stale metadata.resourceVersion gets 409 Conflict.
   */
  #replace(resource: ResourceSpec, namespace: string | undefined, name: string, obj: StoredObject,
    part: 'all' | 'main' | 'status', checkRv = false): StoredObject {
    const key = this.#key(resource, namespace, name);
    const current = this.#table(resource).get(key);
    if (!current) throw notFound(resource, name);
    const rv = obj.metadata?.resourceVersion;
    if (checkRv && rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${resource.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    let next: StoredObject;
    if (part === 'status') {
      next = { ...structuredClone(current), status: obj['status'] };
    } else {
      next = { ...obj, metadata: { ...obj.metadata } };
      if (part === 'main') next['status'] = structuredClone(current['status']);
    }
    if (next['status'] === undefined) delete next['status'];
    next.apiVersion = apiVersionOf(resource);
    next.kind = resource.kind;
    const meta = next.metadata as Record<string, unknown>;
    for (const field of ['uid', 'creationTimestamp', 'namespace', 'name']) meta[field] = current.metadata[field];
    if (!resource.namespaced) delete next.metadata.namespace;
    next.metadata.resourceVersion = current.metadata.resourceVersion;
    const generation = current.metadata['generation'] as number | undefined;
    next.metadata['generation'] = generation;
    if (canonicalJson(next) === canonicalJson(current)) return current; // a no-op write changes nothing
    if (canonicalJson(next['spec']) !== canonicalJson(current['spec'])) next.metadata['generation'] = (generation ?? 0) + 1;
    next.metadata.resourceVersion = String(++this.#rv);
    this.#table(resource).set(key, next);
    this.#record(resource, 'MODIFIED', current, next);
    return next;
  }

  #delete(resource: ResourceSpec, namespace: string | undefined, name: string): StoredObject {
    const key = this.#key(resource, namespace, name);
    const current = this.#table(resource).get(key);
    if (!current) throw notFound(resource, name);
    this.#table(resource).delete(key);
    const gone = { ...structuredClone(current), metadata: { ...current.metadata, resourceVersion: String(++this.#rv) } };
    this.#record(resource, 'DELETED', current, gone);
    return gone;
  }

  #record(resource: ResourceSpec, type: ChangeEvent['type'], old: StoredObject | undefined, current: StoredObject): void {
    const event: ChangeEvent = { rv: this.#rv, plural: resource.plural, type, old, current };
    this.#history.push(event);
    if (this.#history.length > this.#historySize) {
      const dropped = this.#history.splice(0, this.#history.length - this.#historySize);
      this.#oldestRv = dropped[dropped.length - 1]!.rv;
    }
    for (const watch of this.#watches) if (watch.resource.plural === resource.plural) watch.deliver(event);
  }

  #table(resource: ResourceSpec): Map<string, StoredObject> {
    let table = this.#objects.get(resource.plural);
    if (!table) this.#objects.set(resource.plural, (table = new Map()));
    return table;
  }

  #key(resource: ResourceSpec, namespace: string | undefined, name: string): string {
    return resource.namespaced ? `${namespace ?? 'default'}/${name}` : name;
  }

  #resourceOf(object: object): ResourceSpec {
    const kind = (object as { kind?: unknown }).kind;
    if (typeof kind !== 'string') throw new Error('object has no kind');
    return this.#resourceByKind(kind);
  }

  #resourceByKind(kind: string): ResourceSpec {
    const resource = BY_KIND.get(kind);
    if (!resource) throw new Error(`the fake API server does not serve kind ${kind}`);
    return resource;
  }

  #plural(kindOrPlural: string): string {
    return BY_KIND.get(kindOrPlural)?.plural ?? kindOrPlural;
  }
}

function notFound(resource: ResourceSpec, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${resource.plural}${resource.group ? `.${resource.group}` : ''} "${name}" not found`);
}

/** JSON with object keys sorted, so equal objects compare equal whatever their key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

function selector<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof SelectorError) throw new ApiError(400, 'BadRequest', err.message);
    throw err;
  }
}

function parseJson(text: string | undefined): unknown {
  try {
    return JSON.parse(text ?? '');
  } catch {
    throw new ApiError(400, 'BadRequest', 'request body is not valid JSON');
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
