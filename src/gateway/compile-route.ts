// An HTTPRoute or GRPCRoute candidate's part of its CompiledRoute: the request conditions,
// precedence keys and filters as plain data (table/types.ts GatewayRouteData), the TLS of the
// HTTPS listener it is attached through, and the precedence order the table sorts by. A
// TLSRoute candidate's: no request conditions at all (no HTTP request may reach it), the TLS
// listeners its streams come in through, and passthrough or the Terminate listener's certificate.
// A TCPRoute candidate's: the same, through TCP listeners, without TLS of any kind; a UDPRoute's
// through UDP listeners.

import type { RouteCandidate } from '../route-candidate.ts';
import type { GatewayRoute } from '../objects/gateway-types.ts';
import type { CompiledTls, GatewayRouteData } from '../table/types.ts';
import { routeAge, type GatewayCandidateData } from './evaluate.ts';

export function gatewayRouteData(c: RouteCandidate & { gateway: GatewayCandidateData }): GatewayRouteData {
  const g = c.gateway;
  const stream = c.kind === 'TLSRoute' || c.kind === 'TCPRoute' || c.kind === 'UDPRoute';
  const data: GatewayRouteData = {
    conditions: {
      method: g.match.method, headers: g.match.headers, query: g.match.query,
      http: stream ? false : g.http, https: stream ? false : g.https,
      listeners: !stream && g.listeners.length > 0 ? g.listeners : null,
      patterns: g.match.patterns,
    },
    age: routeAge(c.owner as GatewayRoute),
    owner: `${c.namespace}/${c.name}`,
    rule: g.rule.index,
    matchIndex: g.matchIndex,
    requestHeaders: g.rule.requestHeaders,
    responseHeaders: g.rule.responseHeaders,
    redirect: g.rule.redirect,
    rewrite: g.rule.rewrite,
    invalidShare: g.rule.invalidShare,
  };
  // Same order as the compiled route's services (controller/compile.ts makes one per backend).
  if (g.rule.backends.some((b) => b.filters !== undefined)) data.backendFilters = g.rule.backends.map((b) => b.filters ?? null);
  if (g.match.grpc !== null) data.grpc = g.match.grpc;
  if (g.rule.cors !== undefined) data.cors = g.rule.cors;
  if (stream) data.stream = { shared: g.https, listeners: g.listeners };
  return data;
}

/**
 * Edge termination with the listener's certificate; plain HTTP allowed when also attached to an
 * HTTP listener. A TLSRoute: passthrough, or (Terminate) edge with its listener's certificate.
 */
export function gatewayTls(g: GatewayCandidateData): CompiledTls | null {
  if (g.tlsMode === 'Passthrough') return { termination: 'passthrough', insecurePolicy: 'None', certificate: null, destinationCA: null };
  if (g.tlsMode === 'Terminate') return { termination: 'edge', insecurePolicy: 'None', certificate: g.certificate, destinationCA: null };
  if (!g.viaHttps) return null;
  return { termination: 'edge', insecurePolicy: g.viaHttp ? 'Allow' : 'None', certificate: g.certificate, destinationCA: null };
}

/**
 * GRPCRoute precedence within a host (the GRPCRoute spec): more characters of a matched
 * service, then of a method, more header matches; then oldest, `namespace/name`, rule, match.
 */
export function compareGrpcPrecedence(a: GatewayRouteData, b: GatewayRouteData): number {
  const as = a.grpc?.service ?? 0;
  const bs = b.grpc?.service ?? 0;
  if (as !== bs) return bs - as;
  const am = a.grpc?.method ?? 0;
  const bm = b.grpc?.method ?? 0;
  if (am !== bm) return bm - am;
  const ah = a.conditions.headers.length + (a.conditions.patterns?.headers.length ?? 0);
  const bh = b.conditions.headers.length + (b.conditions.patterns?.headers.length ?? 0);
  if (ah !== bh) return bh - ah;
  if (a.age !== b.age) return a.age - b.age;
  if (a.owner !== b.owner) return a.owner < b.owner ? -1 : 1;
  if (a.rule !== b.rule) return a.rule - b.rule;
  return a.matchIndex - b.matchIndex;
}

/** Precedence after path (HTTPRoute spec): method, header count, query count, oldest, name, rule, match. Route/Ingress count as no conditions. */
export function compareGatewayPrecedence(a: GatewayRouteData | undefined, b: GatewayRouteData | undefined): number {
  const am = a?.conditions.method ? 1 : 0;
  const bm = b?.conditions.method ? 1 : 0;
  if (am !== bm) return bm - am;
  const ah = a?.conditions.headers.length ?? 0;
  const bh = b?.conditions.headers.length ?? 0;
  if (ah !== bh) return bh - ah;
  const aq = a?.conditions.query.length ?? 0;
  const bq = b?.conditions.query.length ?? 0;
  if (aq !== bq) return bq - aq;
  if (a === undefined || b === undefined) return 0;
  if (a.age !== b.age) return a.age - b.age;
  if (a.owner !== b.owner) return a.owner < b.owner ? -1 : 1;
  if (a.rule !== b.rule) return a.rule - b.rule;
  return a.matchIndex - b.matchIndex;
}
