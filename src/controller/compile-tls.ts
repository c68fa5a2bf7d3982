// TLS data of a compiled route: termination, insecure policy, the certificate to serve
// (inline in the Route, or from a kubernetes.io/tls Secret for Route externalCertificate and
// Ingress spec.tls), the reencrypt destination CA and server name. Inline certificates are
// validated by admission (extended-validation.ts); a Secret's certificate is checked again here
// so a bad one is never handed to the listener (the default certificate is served instead).

import { checkSecretCertificate, secretKeyPair } from '../objects/tls-certificates.ts';
import type { RouteCandidate } from '../admission/types.ts';
import type { ObjectStore } from '../store.ts';
import type { CompileDeps, CompileDiagnostics } from './compile-endpoints.ts';
import type { CompiledTls, InsecurePolicy } from '../table/types.ts';

/** Re-exported: the Secret reader lives with the checks that extended validation runs on it. */
export { secretKeyPair };

/**
 * The certificate a Secret holds, or null (serve the default certificate) with a note saying
 * why: missing, not a TLS Secret, or failing extended validation. For an Ingress this is the
 * behaviour (as ingress-nginx); a Route's externalCertificate was already checked by admission,
 * so for a Route this only covers a Secret that changed between admission and compile.
 */
function certificateFromSecret(store: ObjectStore, namespace: string, name: string, caCertificate: string | undefined, deps: CompileDeps, diag: CompileDiagnostics): { cert: string; key: string } | null {
  const secretKey = `${namespace}/${name}`;
  deps.secrets.add(secretKey);
  const secret = store.get('Secret', secretKey);
  const check = checkSecretCertificate(secret, secretKey, caCertificate);
  if (!check.ok) {
    diag.notes.push(`${check.message}; serving the default certificate`);
    return null;
  }
  return secretKeyPair(secret!);
}

export function compileTls(c: RouteCandidate, store: ObjectStore, deps: CompileDeps, diag: CompileDiagnostics): CompiledTls | null {
  if (c.kind === 'Ingress') {
    if (!c.ingressTls) return null;
    const cert = c.ingressTls.secretName ? certificateFromSecret(store, c.namespace, c.ingressTls.secretName, undefined, deps, diag) : null;
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
      certificate = certificateFromSecret(store, c.namespace, tls.externalCertificate.name, tls.caCertificate, deps, diag);
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
