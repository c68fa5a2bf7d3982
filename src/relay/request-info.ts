// Which requests the relay may answer from its cache, and what RBAC calls them. A cached read is
// a GET of a collection (a list, or a watch: `?watch=true`) of a resource the relay caches, with a
// bearer token and nothing that changes who is asking (Impersonate-*) or what is answered (a Table,
// PartialObjectMetadata, a continue page, an exact-version list). Everything else is proxied.

import type { IncomingHttpHeaders } from 'node:http';

/** A cacheable list or watch, as RBAC and the cache see it. */
export interface CachedRead {
  verb: 'list' | 'watch';
  /** '' for the core group */
  group: string;
  version: string;
  resource: string;
  /** undefined: all namespaces, or a cluster-scoped resource */
  namespace: string | undefined;
  /** `metadata.name=<name>` of the field selector: RBAC authorizes it as a request for that name, as kube-apiserver does. */
  name: string | undefined;
  /** The collection path as asked (one upstream list + watch per path and selectors). */
  path: string;
  labelSelector: string;
  fieldSelector: string;
  /** The query's resourceVersion ('' when absent). */
  resourceVersion: string;
  resourceVersionMatch: string;
  sendInitialEvents: boolean;
  /** sendInitialEvents=false given: a watch from 0 or '' starts at the current state with no initial events. */
  skipInitialEvents: boolean;
  allowWatchBookmarks: boolean;
  /** The watch's timeoutSeconds, if given. */
  timeoutSeconds: number | undefined;
  /** The bearer token (never logged; hashed before it is a cache key). */
  token: string;
}

/** Query parameters that a cached answer honours, or may ignore as kube-apiserver may (limit). */
const KNOWN_QUERY = new Set(['watch', 'labelSelector', 'fieldSelector', 'resourceVersion', 'resourceVersionMatch', 'sendInitialEvents',
  'allowWatchBookmarks', 'timeoutSeconds', 'limit']);

/**
 * The cached read this request is, or undefined (proxy it). `cached`: the collection paths the
 * relay caches, each `<group-version path>/<plural>` (`/api/v1/services`).
 */
export function cachedRead(method: string, rawUrl: string, headers: IncomingHttpHeaders, cached: ReadonlySet<string>): CachedRead | undefined {
  if (method !== 'GET') return undefined;
  const url = new URL(rawUrl, 'https://relay.invalid');
  for (const key of url.searchParams.keys()) if (!KNOWN_QUERY.has(key)) return undefined;
  const q = url.searchParams;
  if (q.getAll('resourceVersion').length > 1 || q.getAll('labelSelector').length > 1 || q.getAll('fieldSelector').length > 1) return undefined;
  if (q.get('resourceVersionMatch') === 'Exact') return undefined;
  const target = collection(url.pathname);
  if (!target || !cached.has(`${target.groupVersionPath}/${target.resource}`)) return undefined;
  if (!acceptsJson(headers.accept)) return undefined;
  for (const name of Object.keys(headers)) if (name.startsWith('impersonate-')) return undefined;
  const token = bearer(headers.authorization);
  if (token === undefined) return undefined;
  const watch = q.get('watch') === 'true' || q.get('watch') === '1';
  const fieldSelector = q.get('fieldSelector') ?? '';
  const timeout = q.get('timeoutSeconds');
  return {
    verb: watch ? 'watch' : 'list',
    group: target.group, version: target.version, resource: target.resource, namespace: target.namespace,
    name: selectedName(fieldSelector), path: url.pathname,
    labelSelector: q.get('labelSelector') ?? '', fieldSelector,
    resourceVersion: q.get('resourceVersion') ?? '', resourceVersionMatch: q.get('resourceVersionMatch') ?? '',
    sendInitialEvents: q.get('sendInitialEvents') === 'true',
    skipInitialEvents: q.get('sendInitialEvents') === 'false',
    allowWatchBookmarks: q.get('allowWatchBookmarks') === 'true',
    timeoutSeconds: timeout !== null && /^\d+$/.test(timeout) ? Number(timeout) : undefined,
    token,
  };
}

/** Whether a request for a cached collection carries no bearer token (it is then refused, never served). */
export function isCollectionRead(method: string, rawUrl: string, cached: ReadonlySet<string>): boolean {
  if (method !== 'GET') return false;
  const target = collection(new URL(rawUrl, 'https://relay.invalid').pathname);
  return target !== undefined && cached.has(`${target.groupVersionPath}/${target.resource}`);
}

interface Collection { groupVersionPath: string; group: string; version: string; resource: string; namespace: string | undefined }

/** `/api/v1[/namespaces/<ns>]/<plural>` or `/apis/<group>/<version>[/namespaces/<ns>]/<plural>`; undefined for anything else (an object, a subresource). */
function collection(pathname: string): Collection | undefined {
  const parts = pathname.split('/');
  if (parts[0] !== '' || parts.some((p, i) => i > 0 && p === '')) return undefined;
  let group: string, version: string, rest: string[];
  if (parts[1] === 'api' && parts.length >= 4) {
    group = '';
    version = parts[2]!;
    rest = parts.slice(3);
  } else if (parts[1] === 'apis' && parts.length >= 5) {
    group = parts[2]!;
    version = parts[3]!;
    rest = parts.slice(4);
  } else return undefined;
  const groupVersionPath = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  let decoded: string[];
  try { decoded = rest.map((p) => decodeURIComponent(p)); } catch { return undefined; }
  if (decoded.length === 1) return { groupVersionPath, group, version, resource: decoded[0]!, namespace: undefined };
  if (decoded.length === 3 && decoded[0] === 'namespaces') return { groupVersionPath, group, version, resource: decoded[2]!, namespace: decoded[1]! };
  return undefined;
}

/** The bearer token of an Authorization header, or undefined (none, or another scheme). */
export function bearer(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
}

/**
 * Whether an Accept header takes plain JSON, and asks for no transformed form: a client that names
 * a Table or PartialObjectMetadata (`;as=`, kubectl's first choice) is passed on, to get it.
 */
function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  const ranges = accept.split(',').map((range) => range.trim().split(';').map((s) => s.trim().toLowerCase()));
  if (ranges.some(([, ...params]) => params.some((p) => p.startsWith('as=')))) return false;
  return ranges.some(([type, ...params]) => !params.some((p) => /^q=0(\.0*)?$/.test(p))
    && (type === 'application/json' || type === 'application/*' || type === '*/*'));
}

/** The name a field selector pins (`metadata.name=<name>`, alone or among others), as kube-apiserver reads it for authorization. */
function selectedName(fieldSelector: string): string | undefined {
  for (const term of fieldSelector.split(',')) {
    const match = /^\s*metadata\.name\s*(?:==?)\s*(.+?)\s*$/.exec(term);
    if (match) return match[1];
  }
  return undefined;
}
