// A stand-in for the route table's host lookup, for TLS listener tests: host key → one route,
// exact host first, then the wildcard entry one label up (as the real table matches Host).

import type { TlsRouteItem, TlsRouteLookup } from '../../src/proxy/tls/sni-route.ts';
import type { CompiledRoute, CompiledTls } from '../../src/table/types.ts';
import type { TestCertificate } from './certs.ts';

export class FakeTlsLookup implements TlsRouteLookup {
  readonly entries = new Map<string, { key: string; items: TlsRouteItem[] }>();

  /** Serve `host` (or `*.domain`) with `tlsConfig`. */
  set(host: string, tlsConfig: CompiledTls | null, tunnelTimeoutMs = 5000): CompiledRoute {
    const wildcard = host.startsWith('*.');
    const route: CompiledRoute = {
      key: `Route/test/${host}`, kind: 'Route', namespace: 'test', name: host, host: wildcard ? host.slice(2) : host, wildcard,
      path: '', match: 'route', services: [], tls: tlsConfig, policy: {
        balance: 'source', connectTimeoutMs: 2000, serverTimeoutMs: 5000, tunnelTimeoutMs, healthCheck: null, traceSampling: 'default',
      },
      plugins: [],
      annotations: {}, middlewares: [],
    };
    this.entries.set(host, { key: host, items: [{ route }] });
    return route;
  }

  lookupHost(host: string): { key: string; items: TlsRouteItem[] } | null {
    const exact = this.entries.get(host);
    if (exact) return exact;
    const dot = host.indexOf('.');
    return dot === -1 ? null : (this.entries.get(`*${host.slice(dot)}`) ?? null);
  }
}

/** An edge CompiledTls with the given certificate (null = the default certificate). */
export function edge(cert: TestCertificate | null): CompiledTls {
  return { termination: 'edge', insecurePolicy: 'None', certificate: cert && { cert: cert.cert, key: cert.key }, destinationCA: null };
}

export const PASSTHROUGH: CompiledTls = Object.freeze({ termination: 'passthrough', insecurePolicy: 'None', certificate: null, destinationCA: null });
