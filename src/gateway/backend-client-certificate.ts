// A Gateway's spec.tls.backend.clientCertificateRef (GatewayBackendClientCertificate): the
// certificate the router presents to backends it speaks TLS to for that Gateway's routes (those
// a BackendTLSPolicy applies to). The reference must be a core Secret with a certificate and key
// that go together, across namespaces only with a ReferenceGrant; the Gateway's ResolvedRefs
// condition says whether it is (the Gateway stays Accepted either way, and its backends are
// then reached without a client certificate).

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { GATEWAY_GROUP, type Gateway } from '../objects/gateway-types.ts';
import type { Secret } from '../objects/types.ts';
import { secretKeyPair } from '../objects/tls-certificates.ts';
import { condition, type ConditionData } from './conditions.ts';
import { referenceAllowed, type GrantLookup } from './reference-grant.ts';

export interface BackendClientCertificate {
  /** The PEM pair; null when the Gateway names none or it cannot be used. */
  certificate: { cert: string; key: string } | null;
  /** The Gateway's ResolvedRefs condition; null when the Gateway names no client certificate. */
  resolvedRefs: ConditionData | null;
}

export function backendClientCertificate(
  gateway: Gateway, inputs: { grants: GrantLookup; secret(key: string): Secret | undefined },
): BackendClientCertificate {
  const ref = gateway.spec?.tls?.backend?.clientCertificateRef;
  if (ref === undefined) return { certificate: null, resolvedRefs: null };
  const namespace = gateway.metadata.namespace ?? 'default';
  const ns = ref.namespace ?? namespace;
  const refused = (reason: string, message: string): BackendClientCertificate => ({ certificate: null, resolvedRefs: condition('ResolvedRefs', false, reason, message) });
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Secret';
  if ((group !== '' && group !== 'core') || kind !== 'Secret') {
    return refused('InvalidClientCertificateRef', `clientCertificateRef ${group === '' ? '' : `${group}/`}${kind} ${ref.name}: only Secrets are supported`);
  }
  if (!referenceAllowed(inputs.grants, { group: GATEWAY_GROUP, kind: 'Gateway', namespace }, { group: '', kind: 'Secret', namespace: ns, name: ref.name })) {
    return refused('RefNotPermitted', `clientCertificateRef Secret ${ns}/${ref.name} is in another namespace and no ReferenceGrant there allows it`);
  }
  const secret = inputs.secret(`${ns}/${ref.name}`);
  // The router reads kubernetes.io/tls Secrets only: another type is not found here.
  const pair = secret === undefined ? null : secretKeyPair(secret);
  if (pair === null) return refused('InvalidClientCertificateRef', `clientCertificateRef Secret ${ns}/${ref.name} not found, or without tls.crt and tls.key`);
  try {
    if (!new X509Certificate(pair.cert).checkPrivateKey(createPrivateKey(pair.key))) throw new Error('tls.key is not the key of tls.crt');
  } catch (err) {
    return refused('InvalidClientCertificateRef', `clientCertificateRef Secret ${ns}/${ref.name}: ${(err as Error).message}`);
  }
  return { certificate: pair, resolvedRefs: condition('ResolvedRefs', true, 'ResolvedRefs', 'all references resolved') };
}
