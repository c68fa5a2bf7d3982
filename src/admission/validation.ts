// Admission step: is the candidate well-formed? Host is a DNS-1123 subdomain (InvalidHost) and
// present (NoHostValue; an Ingress rule without host is valid: it serves every Host); paths,
// weights, backend kinds and TLS settings are readable
// (RouteNotAdmitted, OpenShift-style, with a message saying what is wrong); annotations parse
// (InvalidAnnotation, naming the annotation).

import { parseRouteAnnotations } from '../route-annotations.ts';
import { checkRoutePlugins, policyRouteOf } from '../plugins/policies.ts';
import { ADMITTED, Reasons, isHostless, reject, type AdmissionContext, type RouteCandidate, type Verdict } from './types.ts';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** DNS-1123 subdomain: labels of ≤ 63 [a-z0-9-] not starting/ending with '-', ≤ 253 in total. */
export function isDns1123Subdomain(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  for (const label of host.split('.')) if (!LABEL.test(label)) return false;
  return true;
}

const TERMINATIONS = new Set(['edge', 'passthrough', 'reencrypt']);
const INSECURE = new Set(['', 'None', 'Allow', 'Redirect']);
const PATH_TYPES = new Set(['Exact', 'Prefix', 'ImplementationSpecific']);

function validateHost(c: RouteCandidate): Verdict {
  if (isHostless(c)) return ADMITTED;
  if (c.host === '') return reject(Reasons.noHostValue, 'no host value was defined for the route');
  const name = c.kind === 'Ingress' && c.host.startsWith('*.') ? c.host.slice(2) : c.host;
  if (!isDns1123Subdomain(name)) {
    return reject(Reasons.invalidHost, `host "${c.host}" must be a DNS-1123 subdomain: lower-case labels of letters, digits and '-', at most 63 characters each and 253 in total`);
  }
  return ADMITTED;
}

function validatePath(c: RouteCandidate): Verdict {
  if (c.kind === 'Ingress') {
    if (c.pathType === undefined || !PATH_TYPES.has(c.pathType)) {
      return reject(Reasons.routeNotAdmitted, `path "${c.path}": pathType must be Exact, Prefix or ImplementationSpecific`);
    }
    if (!c.path.startsWith('/')) return reject(Reasons.routeNotAdmitted, `path "${c.path}" must start with "/"`);
    return ADMITTED;
  }
  if (c.path !== '' && !c.path.startsWith('/')) return reject(Reasons.routeNotAdmitted, `path "${c.path}" must start with "/"`);
  if (/[\s?#]/.test(c.path)) return reject(Reasons.routeNotAdmitted, `path "${c.path}" must not contain spaces, "?" or "#"`);
  if (c.path !== '' && c.routeTls?.termination === 'passthrough') {
    return reject(Reasons.routeNotAdmitted, 'passthrough routes cannot have a path (the router does not see it)');
  }
  return ADMITTED;
}

function validateBackends(c: RouteCandidate): Verdict {
  for (const b of c.backends) {
    if (b.unsupported) return reject(Reasons.routeNotAdmitted, b.unsupported);
    if (b.kind !== 'Service') return reject(Reasons.routeNotAdmitted, `backend kind "${b.kind}" is not supported (only Service)`);
    if (!b.service) return reject(Reasons.routeNotAdmitted, 'backend service name is missing');
    if (!Number.isInteger(b.weight) || b.weight < 0 || b.weight > 256) {
      return reject(Reasons.routeNotAdmitted, `weight of service "${b.service}" must be an integer between 0 and 256, got ${String(b.weight)}`);
    }
    if (b.servicePort && b.servicePort.number === undefined && !b.servicePort.name) {
      return reject(Reasons.routeNotAdmitted, `backend service "${b.service}" needs port.number or port.name`);
    }
  }
  const tp = c.backends[0]?.targetPort;
  if (tp !== undefined && !(typeof tp === 'string' ? tp !== '' : Number.isInteger(tp) && tp > 0 && tp <= 65535)) {
    return reject(Reasons.routeNotAdmitted, `port.targetPort must be a port name or a number 1-65535, got ${JSON.stringify(tp)}`);
  }
  return ADMITTED;
}

function validateRouteTls(c: RouteCandidate): Verdict {
  const tls = c.routeTls;
  if (!tls) return ADMITTED;
  if (!TERMINATIONS.has(tls.termination)) {
    return reject(Reasons.routeNotAdmitted, `tls.termination must be edge, passthrough or reencrypt, got "${String(tls.termination)}"`);
  }
  const insecure = tls.insecureEdgeTerminationPolicy ?? '';
  if (!INSECURE.has(insecure)) {
    return reject(Reasons.routeNotAdmitted, `tls.insecureEdgeTerminationPolicy must be None, Allow or Redirect, got "${insecure}"`);
  }
  if (tls.termination === 'passthrough' && insecure === 'Allow') {
    return reject(Reasons.routeNotAdmitted, 'tls.insecureEdgeTerminationPolicy Allow is not supported with passthrough termination');
  }
  if (tls.termination === 'passthrough' && (tls.certificate || tls.key || tls.caCertificate || tls.destinationCACertificate)) {
    return reject(Reasons.routeNotAdmitted, 'passthrough routes cannot carry certificates (the endpoint terminates TLS)');
  }
  if (tls.externalCertificate && (tls.certificate || tls.key)) {
    return reject(Reasons.routeNotAdmitted, 'tls.externalCertificate and tls.certificate/key are mutually exclusive');
  }
  if (Boolean(tls.certificate) !== Boolean(tls.key)) {
    return reject(Reasons.routeNotAdmitted, 'tls.certificate and tls.key must be given together');
  }
  return ADMITTED;
}

export function validateCandidate(c: RouteCandidate, context: AdmissionContext): Verdict {
  for (const check of [validateHost, validatePath, validateBackends, validateRouteTls]) {
    const verdict = check(c);
    if (!verdict.admitted) return verdict;
  }
  return checkSettings(c, context);
}

/** The route's own settings and every built-in policy's (each reads its annotations in its plugin file). */
function checkSettings(c: RouteCandidate, context: AdmissionContext): Verdict {
  const parsed = parseRouteAnnotations(c.annotations);
  if (!parsed.ok) return reject(Reasons.invalidAnnotation, parsed.message);
  const error = checkRoutePlugins(policyRouteOf(c, null, context.config));
  if (error === null) return ADMITTED;
  return reject(error.reason === 'InvalidAnnotation' ? Reasons.invalidAnnotation : Reasons.routeNotAdmitted, error.message);
}

/** An Ingress spec.defaultBackend has no host or path: only its backend and annotations are checked. */
export function validateDefaultBackend(c: RouteCandidate, context: AdmissionContext): Verdict {
  const verdict = validateBackends(c);
  if (!verdict.admitted) return verdict;
  return checkSettings(c, context);
}
