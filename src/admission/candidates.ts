// Routes and Ingresses → route candidates. One candidate per Route; one per Ingress rule path
// (key `Ingress/ns/name/<rule>/<path>`). Nothing is judged here: odd values are carried as
// written and rejected by admission/validation.ts with a reason the user can read.

import type { RouterConfig } from '../config.ts';
import type { Ingress, IngressBackend, Route } from '../objects/types.ts';
import type { PathMatch } from '../table/types.ts';
import type { CandidateBackend, RouteCandidate } from './types.ts';
import { joined } from '../flat-string.ts';

const DEFAULT_WEIGHT = 100;

/** Host of a Route: spec.host, else the --subdomain template (`${name}`, `${namespace}`). */
export function routeHost(route: Route, config: RouterConfig): string {
  const host = route.spec?.host?.trim() ?? '';
  if (host !== '') return host.toLowerCase();
  if (config.subdomain === '') return '';
  return config.subdomain
    .replaceAll('${name}', route.metadata.name)
    .replaceAll('${namespace}', route.metadata.namespace ?? 'default')
    .toLowerCase();
}

function routeBackend(ref: { kind?: string; name: string; weight?: number } | undefined, targetPort: string | number | undefined): CandidateBackend {
  return {
    service: ref?.name ?? '',
    kind: ref?.kind ?? 'Service',
    weight: ref?.weight ?? DEFAULT_WEIGHT,
    ...(targetPort !== undefined ? { targetPort } : {}),
  };
}

/** The annotations of candidates whose owner has none (one frozen object, not one per route). */
const NO_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * `key`: the owner's key when the caller has it (`Route/namespace/name`), so the owner state, the
 * candidate and what is keyed by either share one string instead of holding two equal ones.
 */
export function routeCandidate(route: Route, config: RouterConfig, key?: string): RouteCandidate {
  const namespace = route.metadata.namespace ?? 'default';
  const spec = route.spec ?? ({} as Route['spec']);
  const targetPort = spec.port?.targetPort;
  const wildcard = spec.wildcardPolicy === 'Subdomain';
  key ??= joined(['Route', namespace, route.metadata.name], '/'); // one string for both: a Route is its own owner
  return {
    key,
    ownerKey: key,
    kind: 'Route',
    namespace,
    name: route.metadata.name,
    owner: route,
    host: routeHost(route, config),
    wildcard,
    wildcardPolicy: wildcard ? 'Subdomain' : 'None',
    path: spec.path ?? '',
    match: 'route',
    backends: [routeBackend(spec.to, targetPort), ...(spec.alternateBackends ?? []).map((b) => routeBackend(b, targetPort))],
    annotations: route.metadata.annotations ?? NO_ANNOTATIONS,
    routeTls: spec.tls ?? null,
  };
}

export function ingressBackend(backend: IngressBackend | undefined): CandidateBackend {
  const svc = backend?.service;
  if (!svc) return { service: '', kind: 'Service', weight: DEFAULT_WEIGHT, unsupported: backend?.resource ? 'resource backends are not supported' : 'backend has no service' };
  return { service: svc.name ?? '', kind: 'Service', weight: DEFAULT_WEIGHT, servicePort: { ...svc.port } };
}

function pathMatchOf(pathType: string | undefined): PathMatch {
  return pathType === 'Exact' ? 'exact' : 'prefix';
}

/** Candidates of an Ingress that is ours (see ingress-class.ts), one per rule path. */
export function ingressCandidates(ingress: Ingress): RouteCandidate[] {
  const namespace = ingress.metadata.namespace ?? 'default';
  const ownerKey = `Ingress/${namespace}/${ingress.metadata.name}`;
  const rules = ingress.spec?.rules ?? [];
  const tls = ingress.spec?.tls ?? [];
  const out: RouteCandidate[] = [];
  rules.forEach((rule, ruleIndex) => {
    const host = (rule.host ?? '').trim().toLowerCase();
    // A rule without host is in no tls[].hosts: it is plain HTTP (HTTPS only via the default certificate).
    const tlsEntry = host === '' ? null : tls.find((t) => (t.hosts ?? []).some((h) => h.trim().toLowerCase() === host)) ?? null;
    (rule.http?.paths ?? []).forEach((p, pathIndex) => {
      out.push({
        key: `${ownerKey}/${ruleIndex}/${pathIndex}`,
        ownerKey,
        kind: 'Ingress',
        namespace,
        name: ingress.metadata.name,
        owner: ingress,
        host,
        wildcard: host.startsWith('*.'),
        wildcardPolicy: host.startsWith('*.') ? 'Subdomain' : 'None',
        // Kubernetes requires a path for Exact/Prefix; an empty one is treated as "/".
        path: p.path === undefined || p.path === '' ? '/' : p.path,
        match: pathMatchOf(p.pathType),
        pathType: p.pathType,
        backends: [ingressBackend(p.backend)],
        annotations: ingress.metadata.annotations ?? NO_ANNOTATIONS,
        ingressTls: tlsEntry ? (tlsEntry.secretName ? { secretName: tlsEntry.secretName } : {}) : null,
      });
    });
  });
  return out;
}

/** The spec.defaultBackend of an Ingress as a candidate (serves what no rule matches), or null. */
export function ingressDefaultCandidate(ingress: Ingress): RouteCandidate | null {
  if (!ingress.spec?.defaultBackend) return null;
  const namespace = ingress.metadata.namespace ?? 'default';
  const ownerKey = `Ingress/${namespace}/${ingress.metadata.name}`;
  return {
    key: `${ownerKey}/default`,
    ownerKey,
    kind: 'Ingress',
    namespace,
    name: ingress.metadata.name,
    owner: ingress,
    host: '',
    wildcard: false,
    wildcardPolicy: 'None',
    path: '/',
    match: 'prefix',
    pathType: 'Prefix',
    backends: [ingressBackend(ingress.spec.defaultBackend)],
    annotations: ingress.metadata.annotations ?? NO_ANNOTATIONS,
    ingressTls: null,
  };
}
