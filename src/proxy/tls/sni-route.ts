// What the HTTPS port does with a connection, decided from the ClientHello's server name and
// the route table: pipe it raw to a passthrough endpoint (a passthrough Route, or a TLSRoute of
// a Passthrough listener), terminate it and pipe the plain stream (a TLSRoute of a Terminate
// listener), or terminate it for HTTP with the host's own certificate (HTTP/2 allowed) or the
// default certificate (HTTP/1.1 only, as OpenShift does).

import type { CompiledRoute } from '../../table/types.ts';
import type { CertificateMaterial } from './secure-context-cache.ts';

/** One route of a host entry as the proxy holds it (its RouteRuntime). */
export interface TlsRouteItem {
  readonly route: CompiledRoute;
}

/**
 * The part of the route table the HTTPS listener needs. `lookupHost` takes a normalised host
 * name (lower-case, no port, no trailing dot) and matches it exactly as for a Host header:
 * the exact host first, else the wildcard entry one label up (`a.foo.com` → `*.foo.com`).
 */
export interface TlsRouteLookup {
  lookupHost(host: string): { readonly key: string; readonly items: readonly TlsRouteItem[] } | null;
  /** The TLSRoute serving streams for this server name (RouteTable.matchStream); absent: none ever. */
  matchStream?(serverName: string): TlsRouteItem | null;
}

export type TlsDecision =
  | { readonly mode: 'passthrough'; readonly item: TlsRouteItem }
  /** Terminate with the route's (its listener's) certificate, then pipe the plain stream. */
  | { readonly mode: 'stream'; readonly item: TlsRouteItem }
  | {
      readonly mode: 'terminate';
      /** The host's own certificate; null = the default certificate. */
      readonly certificate: CertificateMaterial | null;
      /** Host entry key when the host has its own certificate (the 421 check compares against it). */
      readonly entryKey: string | null;
      /** HTTP/2 may be offered via ALPN. */
      readonly http2: boolean;
    };

const DEFAULT_DECISION: TlsDecision = Object.freeze({ mode: 'terminate', certificate: null, entryKey: null, http2: false });

/** A TLSRoute's stream decision: passthrough, or terminate and pipe. */
export function streamDecision(item: TlsRouteItem): TlsDecision {
  return item.route.tls?.termination === 'passthrough' ? { mode: 'passthrough', item } : { mode: 'stream', item };
}

/**
 * Decide for `serverName` (normalised SNI, or null). A TLSRoute attached through a TLS listener
 * on this port takes the stream. Then a host entry holding a passthrough Route is passthrough
 * (admission keeps such a host to that one route). Otherwise the certificate is the first
 * route, in match order, with an edge/reencrypt certificate of its own (TLSRoutes aside: theirs
 * is for their streams, and they may be attached elsewhere).
 */
export function decideTls(lookup: TlsRouteLookup, serverName: string | null, disableHttp2: boolean): TlsDecision {
  if (lookup.matchStream !== undefined) {
    const stream = lookup.matchStream(serverName ?? '');
    if (stream !== null) return streamDecision(stream);
  }
  if (serverName === null) return DEFAULT_DECISION;
  const entry = lookup.lookupHost(serverName);
  if (entry === null) return DEFAULT_DECISION;
  const items = entry.items;
  for (let i = 0; i < items.length; i++) {
    const route = items[i]!.route;
    if (route.tls !== null && route.tls.termination === 'passthrough' && route.kind !== 'TLSRoute') return { mode: 'passthrough', item: items[i]! };
  }
  for (let i = 0; i < items.length; i++) {
    const tls = items[i]!.route.tls;
    if (tls !== null && tls.certificate !== null && items[i]!.route.kind !== 'TLSRoute') {
      return { mode: 'terminate', certificate: tls.certificate, entryKey: entry.key, http2: !disableHttp2 };
    }
  }
  return DEFAULT_DECISION;
}
