// Admission step: OpenShift's extended validation of a Route's TLS material
// (ExtendedValidationFailed), with the checks of objects/tls-certificates.ts. The certificate
// and keys must parse, the key must match the
// certificate, the chain must verify against caCertificate when one is given, certificates
// issued by a CA must not be signed with SHA-1 or MD5 (a self-signed leaf is excepted, as in
// OpenShift), expired or not-yet-valid certificates are refused, and each termination carries
// only the fields it uses. A rejected Route serves nothing; the message says why.
//
// Certificates from Secrets get the same checks. A Route's spec.tls.externalCertificate must
// name a kubernetes.io/tls Secret of its namespace that exists and passes them, or the Route is
// rejected (the message names the Secret); the reconciler re-runs admission when that Secret
// changes. An Ingress spec.tls[].secretName is never a reason to reject: like ingress-nginx,
// the host keeps being served with the default certificate and the compiled route carries a
// note saying why (compile-tls.ts, via checkSecretCertificate).


import type { ObjectStore } from '../store.ts';
import { checkSecretCertificate, validateRouteTlsCached } from '../objects/tls-certificates.ts';
import { ADMITTED, Reasons, reject, type AdmissionContext, type RouteCandidate, type Verdict } from './types.ts';

export { checkSecretCertificate, secretKeyPair, validateRouteTls, validateRouteTlsCached, type TlsValidation } from '../objects/tls-certificates.ts';

/** The Secret a Route's spec.tls.externalCertificate names (`ns/name`), or null. */
export function externalCertificateSecretKey(candidate: RouteCandidate): string | null {
  const name = candidate.kind === 'Route' ? candidate.routeTls?.externalCertificate?.name : undefined;
  return name ? `${candidate.namespace}/${name}` : null;
}

/** Secret keys (`ns/name`) a candidate's admission reads: the reconciler re-admits it when one changes. */
export function secretsReadByAdmission(candidate: RouteCandidate): string[] {
  const key = externalCertificateSecretKey(candidate);
  return key === null ? [] : [key];
}

function admitExternalCertificate(candidate: RouteCandidate, store: ObjectStore): Verdict {
  const secretKey = externalCertificateSecretKey(candidate);
  if (secretKey === null) return ADMITTED;
  const result = checkSecretCertificate(store.get('Secret', secretKey), secretKey, candidate.routeTls?.caCertificate);
  return result.ok ? ADMITTED : reject(Reasons.extendedValidationFailed, result.message);
}

/**
 * The admission step: Routes only. An Ingress certificate never rejects (see the header):
 * the host falls back to the default certificate.
 */
export function admitExtendedValidation(candidate: RouteCandidate, context: AdmissionContext): Verdict {
  if (candidate.kind !== 'Route' || !candidate.routeTls) return ADMITTED;
  const result = validateRouteTlsCached(candidate.routeTls);
  if (!result.ok) return reject(Reasons.extendedValidationFailed, result.message);
  return admitExternalCertificate(candidate, context.store);
}
