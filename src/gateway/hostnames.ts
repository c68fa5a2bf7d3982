// Gateway API hostnames: a precise name (`foo.example.com`) or a wildcard (`*.example.com`),
// which — unlike an OpenShift wildcard Route or an Ingress wildcard — matches any number of
// labels in place of `*` (`a.example.com`, `a.b.example.com`, never `example.com`).
// Intersection of a Listener's hostname and an HTTPRoute's hostnames decides which hosts the
// route serves through that listener (HTTPRoute spec.hostnames).

/** Lower-cased, one trailing dot dropped; '' stays '' (no hostname: every host). */
export function normalizeHostname(name: string | undefined): string {
  if (name === undefined) return '';
  const lower = name.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

export function isWildcard(name: string): boolean {
  return name.startsWith('*.');
}

/** Does the precise `host` fall under `pattern` (precise or wildcard)? */
export function hostnameMatches(pattern: string, host: string): boolean {
  if (!isWildcard(pattern)) return pattern === host;
  const suffix = pattern.slice(1); // `.example.com`
  return host.length > suffix.length && host.endsWith(suffix);
}

/** Is wildcard `inner` (`*.a.example.com`) covered by wildcard `outer` (`*.example.com`)? Equal ones are. */
function wildcardWithin(inner: string, outer: string): boolean {
  return inner === outer || inner.endsWith(outer.slice(1));
}

/**
 * The hostname one route hostname yields on a listener, or null when they do not intersect:
 * the more specific of the two, when one covers the other.
 */
export function intersectHostname(listener: string, route: string): string | null {
  if (listener === '') return route;
  if (route === '') return listener;
  const lw = isWildcard(listener);
  const rw = isWildcard(route);
  if (!lw && !rw) return listener === route ? route : null;
  if (lw && !rw) return hostnameMatches(listener, route) ? route : null;
  if (!lw && rw) return hostnameMatches(route, listener) ? listener : null;
  if (wildcardWithin(route, listener)) return route;
  if (wildcardWithin(listener, route)) return listener;
  return null;
}

/**
 * Hosts an HTTPRoute serves through a listener: '' for "any host" (neither names one), else
 * the distinct intersections in route order. Empty when the route names hostnames and none
 * intersects (the route does not attach: NoMatchingListenerHostname).
 */
export function routeHostsOnListener(listenerHostname: string, routeHostnames: readonly string[]): string[] {
  if (routeHostnames.length === 0) return [listenerHostname];
  const out: string[] = [];
  for (const r of routeHostnames) {
    const h = intersectHostname(listenerHostname, r);
    if (h !== null && !out.includes(h)) out.push(h);
  }
  return out;
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** RFC 1123 hostname, optionally with a leading `*.` label; no IP addresses. */
export function validHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = (isWildcard(name) ? name.slice(2) : name).split('.');
  if (labels.some((l) => l.length > 63 || !LABEL.test(l))) return false;
  return !/^[0-9.]+$/.test(name);
}
