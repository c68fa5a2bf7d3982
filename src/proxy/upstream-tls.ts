// TLS to an endpoint: what the pools (endpoint-pool.ts, upstream-h2-pool.ts,
// upstream-alpn-pool.ts) pass to tls.connect. A reencrypt route gives a CA and a server name; a
// BackendTLSPolicy (table/types.ts BackendTls) may add subjectAltNames, which are then what the
// certificate must carry instead of the server name (the spec: the hostname is SNI only then).

import tls, { type PeerCertificate } from 'node:tls';
import type { BackendTls } from '../table/types.ts';

export interface UpstreamTls {
  /** PEM bundle; undefined: the system roots. */
  ca?: string;
  servername?: string;
  /** A client certificate to present (PEM), with its key. */
  cert?: string;
  key?: string;
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

/** The options of tls.connect for these settings (always verified). */
export function tlsConnectOptions(settings: UpstreamTls): UpstreamTls & { rejectUnauthorized: true } {
  return {
    ca: settings.ca, servername: settings.servername, rejectUnauthorized: true,
    ...(settings.cert !== undefined ? { cert: settings.cert, key: settings.key } : {}),
    ...(settings.checkServerIdentity !== undefined ? { checkServerIdentity: settings.checkServerIdentity } : {}),
  };
}

/** The URI entries of a certificate's subjectAltName (`URI:...`, comma-separated). */
function uriNames(cert: PeerCertificate): string[] {
  const text = cert.subjectaltname ?? '';
  return text.split(', ').filter((e) => e.startsWith('URI:')).map((e) => e.slice(4));
}

/** A BackendTLSPolicy's settings: made once per route runtime, shared by its pools. */
export function backendTlsSettings(policy: BackendTls): UpstreamTls {
  const settings: UpstreamTls = { ca: policy.ca ?? undefined, servername: policy.serverName };
  if (policy.clientCertificate !== undefined) {
    settings.cert = policy.clientCertificate.cert;
    settings.key = policy.clientCertificate.key;
  }
  const names = policy.subjectAltNames;
  if (names.length > 0) {
    settings.checkServerIdentity = (_host, cert) => {
      for (const san of names) {
        if (san.type === 'URI' ? uriNames(cert).includes(san.value) : tls.checkServerIdentity(san.value, cert) === undefined) return undefined;
      }
      const error = new Error(`the certificate has none of the subjectAltNames ${names.map((n) => n.value).join(', ')}`) as Error & { code: string };
      error.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
      return error;
    };
  }
  return settings;
}
