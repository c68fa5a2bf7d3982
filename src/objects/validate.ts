// Structural validation of the objects switchyard reads, shared by the file source and the
// Kubernetes source: the right apiVersion for the kind, a usable name, and the fields we read
// with the types we read them as. Each error names the field path, Kubernetes-style
// (`spec.rules[0].http.paths[1].pathType: must be …`). Semantic checks that become OpenShift
// status reasons (host validity, path syntax, ownership) belong to the admission chain.
// Messages never include field values: a Secret's data must not leak into a log line.

import { ALSO_ACCEPTED_API_VERSIONS, API_VERSION, CLUSTER_SCOPED, KINDS, type Kind, type KubeObject } from './types.ts';
import { GatewayFieldError, checkGateway, checkGatewayClass, checkGRPCRoute, checkHTTPRoute, checkReferenceGrant, checkTLSRoute, checkTCPRoute, checkUDPRoute, checkBackendTLSPolicy, checkListenerSet } from './gateway-validate.ts';

export type ValidationResult =
  | { ok: true; kind: Kind; object: KubeObject }
  /** A kind switchyard does not read (Deployment, …): skip it quietly. */
  | { ok: false; ignored: true; error: string; kind: string; name?: string; field?: undefined }
  | { ok: false; ignored?: false; error: string; field?: string; kind?: string; name?: string };

type Fields = Record<string, unknown>;

/** Thrown by the field checkers below and turned into a result by validateObject. */
class FieldError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

const KIND_SET: ReadonlySet<string> = new Set(KINDS);
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Kinds whose names Kubernetes restricts to one DNS label rather than a subdomain. */
const LABEL_NAMED: ReadonlySet<Kind> = new Set<Kind>(['Service', 'Namespace']);

export function validateObject(doc: unknown): ValidationResult {
  if (!isObject(doc)) return { ok: false, error: 'document: must be an object with apiVersion and kind' };
  const { apiVersion, kind } = doc;
  const rawName = isObject(doc.metadata) && typeof doc.metadata.name === 'string' ? doc.metadata.name : undefined;
  if (typeof apiVersion !== 'string' || apiVersion === '') return fieldFailure('apiVersion', 'required string', kind, rawName);
  if (typeof kind !== 'string' || kind === '') return fieldFailure('kind', 'required string', undefined, rawName);
  if (!KIND_SET.has(kind)) {
    return { ok: false, ignored: true, error: `kind ${kind} is not read by switchyard`, kind, name: rawName };
  }
  const ourKind = kind as Kind;
  if (apiVersion !== API_VERSION[ourKind] && !ALSO_ACCEPTED_API_VERSIONS[ourKind]?.includes(apiVersion)) {
    return fieldFailure('apiVersion', `${kind} must be ${API_VERSION[ourKind]}`, kind, rawName);
  }
  try {
    const metadata = checkMetadata(ourKind, doc.metadata);
    FIELD_CHECKS[ourKind](doc);
    // Objects read from files may leave the namespace out: like kubectl, they land in `default`.
    const object = (CLUSTER_SCOPED.has(ourKind) || typeof metadata.namespace === 'string' && metadata.namespace !== ''
      ? doc
      : { ...doc, metadata: { ...metadata, namespace: 'default' } }) as KubeObject;
    return { ok: true, kind: ourKind, object };
  } catch (err) {
    if (err instanceof FieldError || err instanceof GatewayFieldError) return { ok: false, error: err.message, field: err.field, kind, name: rawName };
    throw err;
  }
}

function fieldFailure(field: string, message: string, kind: unknown, name: string | undefined): ValidationResult {
  return { ok: false, error: `${field}: ${message}`, field, kind: typeof kind === 'string' ? kind : undefined, name };
}

// ---- metadata ------------------------------------------------------------------------------

function checkMetadata(kind: Kind, value: unknown): Fields {
  const meta = requireObject(value, 'metadata');
  const name = meta.name;
  if (typeof name !== 'string' || name === '') throw new FieldError('metadata.name', 'required string');
  if (LABEL_NAMED.has(kind)) {
    if (name.length > 63 || !DNS1123_LABEL.test(name)) {
      throw new FieldError('metadata.name', 'must be a DNS-1123 label (lower-case alphanumerics and "-", at most 63 characters)');
    }
  } else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw new FieldError('metadata.name', 'must be a DNS-1123 subdomain (lower-case alphanumerics, "-" and ".", at most 253 characters)');
  }
  if (meta.namespace !== undefined && meta.namespace !== null && meta.namespace !== '' && !CLUSTER_SCOPED.has(kind)) {
    const ns = meta.namespace;
    if (typeof ns !== 'string' || ns.length > 63 || !DNS1123_LABEL.test(ns)) {
      throw new FieldError('metadata.namespace', 'must be a DNS-1123 label');
    }
  }
  optionalString(meta.uid, 'metadata.uid');
  optionalString(meta.resourceVersion, 'metadata.resourceVersion');
  checkTimestamp(meta.creationTimestamp, 'metadata.creationTimestamp');
  checkTimestamp(meta.deletionTimestamp, 'metadata.deletionTimestamp');
  optionalStringMap(meta.labels, 'metadata.labels');
  optionalStringMap(meta.annotations, 'metadata.annotations');
  return meta;
}

function checkTimestamp(value: unknown, field: string): void {
  if (value === undefined || value === null) return;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new FieldError(field, 'must be an RFC 3339 time');
}

// ---- per kind ------------------------------------------------------------------------------

const FIELD_CHECKS: Readonly<Record<Kind, (doc: Fields) => void>> = {
  Route: checkRoute,
  Ingress: checkIngress,
  IngressClass(doc) {
    const spec = optionalObject(doc.spec, 'spec');
    if (spec) optionalString(spec.controller, 'spec.controller');
  },
  Service: checkService,
  EndpointSlice: checkEndpointSlice,
  Namespace() {},
  Pod(doc) {
    const spec = optionalObject(doc.spec, 'spec');
    if (spec) {
      optionalBoolean(spec.hostNetwork, 'spec.hostNetwork');
      optionalString(spec.nodeName, 'spec.nodeName');
    }
    const status = optionalObject(doc.status, 'status');
    if (status) {
      optionalString(status.podIP, 'status.podIP');
      optionalString(status.phase, 'status.phase');
    }
  },
  Secret(doc) {
    optionalString(doc.type, 'type');
    const data = optionalStringMap(doc.data, 'data');
    if (data) {
      for (const [key, value] of Object.entries(data)) {
        // The API server decodes with Go's StdEncoding, which skips line breaks.
        if (!BASE64.test(value.replace(/[\r\n]/g, ''))) throw new FieldError(`data[${key}]`, 'must be valid base64');
      }
    }
    optionalStringMap(doc.stringData, 'stringData');
  },
  ConfigMap(doc) {
    optionalStringMap(doc.data, 'data');
  },
  Middleware(doc) {
    const spec = requireObject(doc.spec, 'spec');
    requireString(spec.plugin, 'spec.plugin');
    // spec.config is the plugin's business: its schema is checked at admission.
    if (spec.config !== undefined && spec.config !== null && (typeof spec.config !== 'object' || Array.isArray(spec.config))) {
      throw new FieldError('spec.config', 'must be an object');
    }
  },
  GatewayClass: checkGatewayClass,
  Gateway: checkGateway,
  HTTPRoute: checkHTTPRoute,
  GRPCRoute: checkGRPCRoute,
  TLSRoute: checkTLSRoute,
  TCPRoute: checkTCPRoute,
  UDPRoute: checkUDPRoute,
  ReferenceGrant: checkReferenceGrant,
  BackendTLSPolicy: checkBackendTLSPolicy,
  ListenerSet: checkListenerSet,
};

function checkRoute(doc: Fields): void {
  const spec = requireObject(doc.spec, 'spec');
  optionalString(spec.host, 'spec.host');
  optionalString(spec.subdomain, 'spec.subdomain');
  optionalString(spec.path, 'spec.path');
  checkRouteTarget(requireObject(spec.to, 'spec.to'), 'spec.to');
  const alternates = optionalArray(spec.alternateBackends, 'spec.alternateBackends');
  alternates?.forEach((entry, i) => {
    const field = `spec.alternateBackends[${i}]`;
    checkRouteTarget(requireObject(entry, field), field);
  });
  const port = optionalObject(spec.port, 'spec.port');
  if (port) checkPortReference(port.targetPort, 'spec.port.targetPort', true);
  if (spec.tls !== null) {
    const tls = optionalObject(spec.tls, 'spec.tls');
    if (tls) checkRouteTls(tls);
  }
  oneOf(spec.wildcardPolicy, 'spec.wildcardPolicy', ['None', 'Subdomain'], 'None or Subdomain');
}

function checkRouteTarget(target: Fields, field: string): void {
  // OpenShift accepts only Services as targets; an empty kind means Service.
  oneOf(target.kind, `${field}.kind`, ['Service', ''], 'Service');
  requireString(target.name, `${field}.name`);
  optionalInteger(target.weight, `${field}.weight`, 0, 256);
}

function checkRouteTls(tls: Fields): void {
  if (tls.termination === undefined) throw new FieldError('spec.tls.termination', 'required: edge, passthrough or reencrypt');
  oneOf(tls.termination, 'spec.tls.termination', ['edge', 'passthrough', 'reencrypt'], 'edge, passthrough or reencrypt');
  for (const key of ['certificate', 'key', 'caCertificate', 'destinationCACertificate']) {
    optionalString(tls[key], `spec.tls.${key}`);
  }
  oneOf(tls.insecureEdgeTerminationPolicy, 'spec.tls.insecureEdgeTerminationPolicy', ['None', 'Allow', 'Redirect', ''], 'None, Allow or Redirect');
  const external = optionalObject(tls.externalCertificate, 'spec.tls.externalCertificate');
  if (external) requireString(external.name, 'spec.tls.externalCertificate.name');
}

function checkIngress(doc: Fields): void {
  const spec = requireObject(doc.spec, 'spec');
  optionalString(spec.ingressClassName, 'spec.ingressClassName');
  if (spec.defaultBackend !== undefined) checkIngressBackend(spec.defaultBackend, 'spec.defaultBackend');
  optionalArray(spec.rules, 'spec.rules')?.forEach((value, i) => {
    const field = `spec.rules[${i}]`;
    const rule = requireObject(value, field);
    optionalString(rule.host, `${field}.host`);
    const http = optionalObject(rule.http, `${field}.http`);
    if (!http) return;
    const paths = http.paths;
    if (!Array.isArray(paths)) throw new FieldError(`${field}.http.paths`, 'required array');
    paths.forEach((entry, j) => {
      const pathField = `${field}.http.paths[${j}]`;
      const path = requireObject(entry, pathField);
      optionalString(path.path, `${pathField}.path`);
      if (path.pathType === undefined) throw new FieldError(`${pathField}.pathType`, 'required: Exact, Prefix or ImplementationSpecific');
      oneOf(path.pathType, `${pathField}.pathType`, ['Exact', 'Prefix', 'ImplementationSpecific'], 'Exact, Prefix or ImplementationSpecific');
      checkIngressBackend(path.backend, `${pathField}.backend`);
    });
  });
  optionalArray(spec.tls, 'spec.tls')?.forEach((value, i) => {
    const tls = requireObject(value, `spec.tls[${i}]`);
    optionalStringArray(tls.hosts, `spec.tls[${i}].hosts`);
    optionalString(tls.secretName, `spec.tls[${i}].secretName`);
  });
}

function checkIngressBackend(value: unknown, field: string): void {
  const backend = requireObject(value, field);
  const service = optionalObject(backend.service, `${field}.service`);
  const resource = optionalObject(backend.resource, `${field}.resource`);
  if (!service && !resource) throw new FieldError(field, 'service or resource required');
  if (service && resource) throw new FieldError(field, 'service and resource are mutually exclusive');
  if (!service) return;
  requireString(service.name, `${field}.service.name`);
  const port = requireObject(service.port, `${field}.service.port`);
  optionalString(port.name, `${field}.service.port.name`);
  optionalInteger(port.number, `${field}.service.port.number`, 1, 65535);
  if ((port.name === undefined || port.name === '') && port.number === undefined) {
    throw new FieldError(`${field}.service.port`, 'name or number required');
  }
}

function checkService(doc: Fields): void {
  const spec = requireObject(doc.spec, 'spec');
  optionalString(spec.type, 'spec.type');
  optionalString(spec.clusterIP, 'spec.clusterIP');
  optionalString(spec.externalName, 'spec.externalName');
  optionalStringMap(spec.selector, 'spec.selector');
  optionalArray(spec.ports, 'spec.ports')?.forEach((value, i) => {
    const field = `spec.ports[${i}]`;
    const port = requireObject(value, field);
    optionalString(port.name, `${field}.name`);
    if (port.port === undefined) throw new FieldError(`${field}.port`, 'required integer 1-65535');
    optionalInteger(port.port, `${field}.port`, 1, 65535);
    checkPortReference(port.targetPort, `${field}.targetPort`, false);
    optionalString(port.protocol, `${field}.protocol`);
    optionalString(port.appProtocol, `${field}.appProtocol`);
  });
}

function checkEndpointSlice(doc: Fields): void {
  if (doc.addressType === undefined) throw new FieldError('addressType', 'required: IPv4, IPv6 or FQDN');
  oneOf(doc.addressType, 'addressType', ['IPv4', 'IPv6', 'FQDN'], 'IPv4, IPv6 or FQDN');
  optionalArray(doc.endpoints, 'endpoints', true)?.forEach((value, i) => {
    const field = `endpoints[${i}]`;
    const endpoint = requireObject(value, field);
    if (!Array.isArray(endpoint.addresses) || !endpoint.addresses.every((a) => typeof a === 'string')) {
      throw new FieldError(`${field}.addresses`, 'required array of strings');
    }
    const conditions = optionalObject(endpoint.conditions, `${field}.conditions`);
    if (conditions) {
      for (const key of ['ready', 'serving', 'terminating']) {
        if (conditions[key] !== null) optionalBoolean(conditions[key], `${field}.conditions.${key}`);
      }
    }
    optionalString(endpoint.hostname, `${field}.hostname`);
    optionalString(endpoint.nodeName, `${field}.nodeName`);
    const ref = optionalObject(endpoint.targetRef, `${field}.targetRef`);
    if (ref) for (const key of ['kind', 'name', 'namespace', 'uid']) optionalString(ref[key], `${field}.targetRef.${key}`);
  });
  optionalArray(doc.ports, 'ports', true)?.forEach((value, i) => {
    const field = `ports[${i}]`;
    const port = requireObject(value, field);
    optionalString(port.name, `${field}.name`);
    if (port.port !== null) optionalInteger(port.port, `${field}.port`, 1, 65535);
    optionalString(port.protocol, `${field}.protocol`);
    optionalString(port.appProtocol, `${field}.appProtocol`);
  });
}

// ---- field checkers ------------------------------------------------------------------------

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function requireObject(value: unknown, field: string): Fields {
  if (!isObject(value)) throw new FieldError(field, 'required object');
  return value;
}

function optionalObject(value: unknown, field: string): Fields | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new FieldError(field, 'must be an object');
  return value;
}

function requireString(value: unknown, field: string): void {
  if (typeof value !== 'string' || value === '') throw new FieldError(field, 'required string');
}

function optionalString(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'string') throw new FieldError(field, 'must be a string');
}

function optionalBoolean(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'boolean') throw new FieldError(field, 'must be true or false');
}

function optionalInteger(value: unknown, field: string, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new FieldError(field, `integer ${min}-${max}`);
  }
}

/** A port given by number (1-65535) or by name (a non-empty string). */
function checkPortReference(value: unknown, field: string, required: boolean): void {
  if (value === undefined && !required) return;
  if (typeof value === 'string' && value !== '') return;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535) return;
  throw new FieldError(field, `${required ? 'required: ' : 'must be '}a port name or an integer 1-65535`);
}

function oneOf(value: unknown, field: string, allowed: readonly string[], description: string): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || !allowed.includes(value)) throw new FieldError(field, `must be ${description}`);
}

function optionalArray(value: unknown, field: string, nullable = false): unknown[] | undefined {
  if (value === undefined || (nullable && value === null)) return undefined;
  if (!Array.isArray(value)) throw new FieldError(field, 'must be an array');
  return value;
}

function optionalStringArray(value: unknown, field: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new FieldError(field, 'must be an array of strings');
}

function optionalStringMap(value: unknown, field: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new FieldError(field, 'must be a map of strings');
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw new FieldError(`${field}[${key}]`, 'must be a string');
  }
  return value as Record<string, string>;
}
