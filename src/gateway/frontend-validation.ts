// Client-certificate validation of a Gateway's HTTPS listeners (spec.tls.frontend): the
// configuration for a listener's port (a perPort entry for that port, else the default), its CA
// certificates resolved from ConfigMaps (`ca.crt`; core ConfigMaps only, in another namespace
// only with a ReferenceGrant), and the listener conditions the spec asks for when they cannot
// be: ResolvedRefs=False with InvalidCACertificateKind, RefNotPermitted or
// InvalidCACertificateRef for each bad reference, and Accepted=False NoValidCACertificate when
// none is usable. A listener with some usable CAs is served with those alone (trusting fewer CAs
// never lets more clients in). The TLS side is tls-terminator.ts (setClientValidation).

import { X509Certificate } from 'node:crypto';
import { GATEWAY_GROUP, type FrontendTLSValidation, type Gateway } from '../objects/gateway-types.ts';
import type { ConfigMap } from '../objects/types.ts';
import { pemCertificates } from '../proxy/tls/pem.ts';
import type { ClientValidation } from '../table/types.ts';
import { condition, type ConditionData } from './conditions.ts';
import { referenceAllowed, type GrantLookup } from './reference-grant.ts';

export type { ClientValidation } from '../table/types.ts';

export interface FrontendInputs {
  grants: GrantLookup;
  configMap(key: string): ConfigMap | undefined;
}

export type FrontendResult =
  /** No validation configured for this port. */
  | { validation: null; resolved: null; accepted: null }
  /** Served with `validation` (null when nothing usable); `resolved`/`accepted`: failed conditions, else null. */
  | { validation: ClientValidation | null; resolved: ConditionData | null; accepted: ConditionData | null };

const NONE: FrontendResult = { validation: null, resolved: null, accepted: null };

/** The validation configured for HTTPS listeners on `port`: its perPort entry, else the default. */
export function frontendValidationOf(gateway: Gateway, port: number): FrontendTLSValidation | undefined {
  const frontend = gateway.spec?.tls?.frontend;
  if (frontend === undefined) return undefined;
  const perPort = (frontend.perPort ?? []).find((p) => p.port === port);
  return perPort !== undefined ? perPort.tls?.validation : frontend.default?.validation;
}

/** Some validation of the Gateway (default or per port) lets clients in without a valid certificate. */
export function insecureFallbackConfigured(gateway: Gateway): boolean {
  const frontend = gateway.spec?.tls?.frontend;
  return [frontend?.default?.validation, ...(frontend?.perPort ?? []).map((p) => p.tls?.validation)]
    .some((v) => v?.mode === 'AllowInsecureFallback');
}

export function resolveFrontendValidation(gateway: Gateway, port: number, inputs: FrontendInputs): FrontendResult {
  const validation = frontendValidationOf(gateway, port);
  if (validation === undefined) return NONE;
  const mode = validation.mode ?? 'AllowValidOnly';
  if (mode !== 'AllowValidOnly' && mode !== 'AllowInsecureFallback') {
    return { validation: null, resolved: null, accepted: condition('Accepted', false, 'UnsupportedValue', `client certificate validation mode ${mode} is not supported (AllowValidOnly and AllowInsecureFallback are)`) };
  }
  const namespace = gateway.metadata.namespace ?? 'default';
  const refs = validation.caCertificateRefs ?? [];
  const cas: string[] = [];
  let resolved: ConditionData | null = refs.length === 0
    ? condition('ResolvedRefs', false, 'InvalidCACertificateRef', 'client certificate validation needs at least one caCertificateRef')
    : null;
  for (const ref of refs) {
    const problem = resolveCa(ref, namespace, inputs, cas);
    // The first bad reference is the one reported.
    resolved ??= problem;
  }
  if (cas.length === 0) {
    return {
      validation: null,
      resolved,
      accepted: condition('Accepted', false, 'NoValidCACertificate', `no usable CA certificate for client certificate validation on port ${port}: ${resolved!.message}`),
    };
  }
  return { validation: { ca: cas.join('\n'), mode }, resolved, accepted: null };
}

/** One caCertificateRef: its certificates appended to `cas`, or the failed ResolvedRefs condition. */
function resolveCa(ref: NonNullable<FrontendTLSValidation['caCertificateRefs']>[number], namespace: string, inputs: FrontendInputs, cas: string[]): ConditionData | null {
  const group = ref.group ?? '';
  const kind = ref.kind ?? '';
  if ((group !== '' && group !== 'core') || kind !== 'ConfigMap') {
    return condition('ResolvedRefs', false, 'InvalidCACertificateKind', `caCertificateRef ${kind || '(no kind)'} ${ref.name}: only core ConfigMaps are supported`);
  }
  const ns = ref.namespace ?? namespace;
  if (!referenceAllowed(inputs.grants, { group: GATEWAY_GROUP, kind: 'Gateway', namespace }, { group: '', kind: 'ConfigMap', namespace: ns, name: ref.name })) {
    return condition('ResolvedRefs', false, 'RefNotPermitted', `ConfigMap ${ns}/${ref.name} is in another namespace and no ReferenceGrant there allows it`);
  }
  const configMap = inputs.configMap(`${ns}/${ref.name}`);
  if (configMap === undefined) return condition('ResolvedRefs', false, 'InvalidCACertificateRef', `ConfigMap ${ns}/${ref.name} not found`);
  const bundle = configMap.data?.['ca.crt'];
  if (bundle === undefined) return condition('ResolvedRefs', false, 'InvalidCACertificateRef', `ConfigMap ${ns}/${ref.name} has no ca.crt`);
  const certificates = pemCertificates(bundle).filter(parses);
  if (certificates.length === 0) return condition('ResolvedRefs', false, 'InvalidCACertificateRef', `ConfigMap ${ns}/${ref.name}: ca.crt holds no valid PEM certificate`);
  cas.push(...certificates);
  return null;
}

function parses(pem: string): boolean {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}
