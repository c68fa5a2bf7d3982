// TLS data of a compiled route: termination, insecure policy, the certificate to serve
// (inline in the Route, or from a kubernetes.io/tls Secret for Route externalCertificate and
// Ingress spec.tls), the reencrypt destination CA and server name. Only carried here:
// certificate validation is an admission step of its own.

import type { RouteCandidate } from '../admission/types.ts';
import type { Secret } from '../objects/types.ts';
import type { ObjectStore } from '../store.ts';
import type { CompileDeps, CompileDiagnostics } from './compile-endpoints.ts';
import type { CompiledTls, InsecurePolicy } from './types.ts';

/** tls.crt / tls.key of a Secret: base64 `data` as the API serves it, or `stringData` from files. */
export function secretKeyPair(secret: Secret): { cert: string; key: string } | null {
  const read = (name: string): string | undefined => {
    const b64 = secret.data?.[name];
    if (b64 !== undefined) return Buffer.from(b64, 'base64').toString('utf8');
    return secret.stringData?.[name];
  };
  const cert = read('tls.crt');
  const key = read('tls.key');
  return cert && key ? { cert, key } : null;
}

function certificateFromSecret(store: ObjectStore, namespace: string, name: string, deps: CompileDeps, diag: CompileDiagnostics): { cert: string; key: string } | null {
  const secretKey = `${namespace}/${name}`;
  deps.secrets.add(secretKey);
  const secret = store.get('Secret', secretKey);
  if (!secret) {
    diag.notes.push(`secret ${secretKey} not found; serving the default certificate`);
    return null;
  }
  const pair = secretKeyPair(secret);
  if (!pair) diag.notes.push(`secret ${secretKey} has no tls.crt/tls.key; serving the default certificate`);
  return pair;
}

export function compileTls(c: RouteCandidate, store: ObjectStore, deps: CompileDeps, diag: CompileDiagnostics): CompiledTls | null {
  if (c.kind === 'Ingress') {
    if (!c.ingressTls) return null;
    const cert = c.ingressTls.secretName ? certificateFromSecret(store, c.namespace, c.ingressTls.secretName, deps, diag) : null;
    // As OpenShift's ingress-to-route conversion: edge termination, plain HTTP redirected.
    return { termination: 'edge', insecurePolicy: 'Redirect', certificate: cert, destinationCA: null };
  }
  const tls = c.routeTls;
  if (!tls) return null;
  const insecurePolicy: InsecurePolicy = tls.insecureEdgeTerminationPolicy ? tls.insecureEdgeTerminationPolicy : 'None';
  let certificate: CompiledTls['certificate'] = null;
  if (tls.termination !== 'passthrough') {
    if (tls.certificate && tls.key) {
      certificate = { cert: tls.certificate, key: tls.key };
    } else if (tls.externalCertificate?.name) {
      certificate = certificateFromSecret(store, c.namespace, tls.externalCertificate.name, deps, diag);
    }
    if (certificate && tls.caCertificate) certificate = { ...certificate, ca: tls.caCertificate };
  }
  const compiled: CompiledTls = {
    termination: tls.termination,
    insecurePolicy,
    certificate,
    destinationCA: tls.termination === 'reencrypt' ? tls.destinationCACertificate ?? null : null,
  };
  if (tls.termination === 'reencrypt') compiled.serverName = `${c.backends[0]!.service}.${c.namespace}.svc`;
  return compiled;
}
