// Structural validation of the Gateway API kinds (see validate.ts for the other kinds): the
// fields the router reads have the types it reads them as. The CRDs' own schema checks much
// more on a cluster; objects from files get these checks only, and semantic problems
// (unknown filter types, bad references, unsupported protocols) become status conditions.
// Messages name the field, never its value.

export class GatewayFieldError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function object(value: unknown, field: string, required: boolean): Fields | undefined {
  if (value === undefined || value === null) {
    if (required) throw new GatewayFieldError(field, 'required object');
    return undefined;
  }
  if (!isObject(value)) throw new GatewayFieldError(field, 'must be an object');
  return value;
}

function array(value: unknown, field: string, required = false): unknown[] {
  if (value === undefined || value === null) {
    if (required) throw new GatewayFieldError(field, 'required array');
    return [];
  }
  if (!Array.isArray(value)) throw new GatewayFieldError(field, 'must be an array');
  return value;
}

function string(value: unknown, field: string, required = false): void {
  if (value === undefined || value === null) {
    if (required) throw new GatewayFieldError(field, 'required string');
    return;
  }
  if (typeof value !== 'string') throw new GatewayFieldError(field, 'must be a string');
  if (required && value === '') throw new GatewayFieldError(field, 'must not be empty');
}

function integer(value: unknown, field: string, min: number, max: number, required = false): void {
  if (value === undefined || value === null) {
    if (required) throw new GatewayFieldError(field, 'required integer');
    return;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new GatewayFieldError(field, `must be an integer from ${min} to ${max}`);
  }
}

function stringMap(value: unknown, field: string): void {
  const map = object(value, field, false);
  if (map) for (const [k, v] of Object.entries(map)) string(v, `${field}[${k}]`);
}

function eachObject(value: unknown, field: string, check: (item: Fields, field: string) => void, required = false): void {
  array(value, field, required).forEach((item, i) => {
    const f = `${field}[${i}]`;
    check(object(item, f, true)!, f);
  });
}

function checkReference(ref: Fields, field: string): void {
  string(ref.group, `${field}.group`);
  string(ref.kind, `${field}.kind`);
  string(ref.name, `${field}.name`, true);
  string(ref.namespace, `${field}.namespace`);
}

function checkSelector(value: unknown, field: string): void {
  const selector = object(value, field, false);
  if (!selector) return;
  stringMap(selector.matchLabels, `${field}.matchLabels`);
  eachObject(selector.matchExpressions, `${field}.matchExpressions`, (e, f) => {
    string(e.key, `${f}.key`, true);
    string(e.operator, `${f}.operator`, true);
    array(e.values, `${f}.values`).forEach((v, i) => string(v, `${f}.values[${i}]`));
  });
}

export function checkGatewayClass(doc: Fields): void {
  const spec = object(doc.spec, 'spec', true)!;
  string(spec.controllerName, 'spec.controllerName', true);
}

/** A Gateway's or a ListenerSet's spec.listeners. */
function checkListeners(value: unknown): void {
  eachObject(value, 'spec.listeners', (l, f) => {
    string(l.name, `${f}.name`, true);
    string(l.hostname, `${f}.hostname`);
    integer(l.port, `${f}.port`, 1, 65535, true);
    string(l.protocol, `${f}.protocol`, true);
    const tls = object(l.tls, `${f}.tls`, false);
    if (tls) {
      string(tls.mode, `${f}.tls.mode`);
      eachObject(tls.certificateRefs, `${f}.tls.certificateRefs`, checkReference);
    }
    const allowed = object(l.allowedRoutes, `${f}.allowedRoutes`, false);
    if (allowed) {
      const ns = object(allowed.namespaces, `${f}.allowedRoutes.namespaces`, false);
      if (ns) {
        string(ns.from, `${f}.allowedRoutes.namespaces.from`);
        checkSelector(ns.selector, `${f}.allowedRoutes.namespaces.selector`);
      }
      eachObject(allowed.kinds, `${f}.allowedRoutes.kinds`, (k, kf) => {
        string(k.group, `${kf}.group`);
        string(k.kind, `${kf}.kind`, true);
      });
    }
  }, true);
}

export function checkGateway(doc: Fields): void {
  const spec = object(doc.spec, 'spec', true)!;
  string(spec.gatewayClassName, 'spec.gatewayClassName', true);
  checkListeners(spec.listeners);
  const allowedListeners = object(object(spec.allowedListeners, 'spec.allowedListeners', false)?.namespaces, 'spec.allowedListeners.namespaces', false);
  if (allowedListeners) {
    string(allowedListeners.from, 'spec.allowedListeners.namespaces.from');
    checkSelector(allowedListeners.selector, 'spec.allowedListeners.namespaces.selector');
  }
  const frontend = object(object(spec.tls, 'spec.tls', false)?.frontend, 'spec.tls.frontend', false);
  if (frontend) {
    checkFrontendValidation(object(frontend.default, 'spec.tls.frontend.default', false)?.validation, 'spec.tls.frontend.default.validation');
    eachObject(frontend.perPort, 'spec.tls.frontend.perPort', (p, f) => {
      integer(p.port, `${f}.port`, 1, 65535, true);
      checkFrontendValidation(object(p.tls, `${f}.tls`, false)?.validation, `${f}.tls.validation`);
    });
  }
  // A value may be left out: "any address of the pool" (GatewayAddressEmpty).
  eachObject(spec.addresses, 'spec.addresses', (a, f) => { string(a.type, `${f}.type`); string(a.value, `${f}.value`); });
}

function checkFrontendValidation(value: unknown, field: string): void {
  const validation = object(value, field, false);
  if (!validation) return;
  string(validation.mode, `${field}.mode`);
  eachObject(validation.caCertificateRefs, `${field}.caCertificateRefs`, checkReference);
}

function checkHeaderFilter(value: unknown, field: string): void {
  const filter = object(value, field, false);
  if (!filter) return;
  for (const list of ['set', 'add'] as const) {
    eachObject(filter[list], `${field}.${list}`, (h, f) => {
      string(h.name, `${f}.name`, true);
      string(h.value, `${f}.value`);
    });
  }
  array(filter.remove, `${field}.remove`).forEach((v, i) => string(v, `${field}.remove[${i}]`, true));
}

function checkPathModifier(value: unknown, field: string): void {
  const path = object(value, field, false);
  if (!path) return;
  string(path.type, `${field}.type`, true);
  string(path.replaceFullPath, `${field}.replaceFullPath`);
  string(path.replacePrefixMatch, `${field}.replacePrefixMatch`);
}

function checkFilter(filter: Fields, field: string): void {
  string(filter.type, `${field}.type`, true);
  checkHeaderFilter(filter.requestHeaderModifier, `${field}.requestHeaderModifier`);
  checkHeaderFilter(filter.responseHeaderModifier, `${field}.responseHeaderModifier`);
  const redirect = object(filter.requestRedirect, `${field}.requestRedirect`, false);
  if (redirect) {
    string(redirect.scheme, `${field}.requestRedirect.scheme`);
    string(redirect.hostname, `${field}.requestRedirect.hostname`);
    integer(redirect.port, `${field}.requestRedirect.port`, 1, 65535);
    integer(redirect.statusCode, `${field}.requestRedirect.statusCode`, 100, 599);
    checkPathModifier(redirect.path, `${field}.requestRedirect.path`);
  }
  const rewrite = object(filter.urlRewrite, `${field}.urlRewrite`, false);
  if (rewrite) {
    string(rewrite.hostname, `${field}.urlRewrite.hostname`);
    checkPathModifier(rewrite.path, `${field}.urlRewrite.path`);
  }
  const ext = object(filter.extensionRef, `${field}.extensionRef`, false);
  if (ext) {
    string(ext.kind, `${field}.extensionRef.kind`, true);
    string(ext.name, `${field}.extensionRef.name`, true);
  }
  const cors = object(filter.cors, `${field}.cors`, false);
  if (cors) {
    // Types only: the values themselves (origin syntax, methods, `*` alone) are the route's status (gateway/cors.ts).
    for (const list of ['allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders'] as const) {
      array(cors[list], `${field}.cors.${list}`).forEach((v, i) => string(v, `${field}.cors.${list}[${i}]`));
    }
    if (cors.allowCredentials !== undefined && cors.allowCredentials !== null && typeof cors.allowCredentials !== 'boolean') {
      throw new GatewayFieldError(`${field}.cors.allowCredentials`, 'must be a boolean');
    }
    integer(cors.maxAge, `${field}.cors.maxAge`, -2_147_483_648, 2_147_483_647);
  }
}

function checkMatchList(value: unknown, field: string): void {
  eachObject(value, field, (h, f) => {
    string(h.type, `${f}.type`);
    string(h.name, `${f}.name`, true);
    string(h.value, `${f}.value`, true);
  });
}

/** What HTTPRoute and GRPCRoute share: parentRefs and hostnames. */
function checkCommonRouteSpec(spec: Fields): void {
  eachObject(spec.parentRefs, 'spec.parentRefs', (p, f) => {
    checkReference(p, f);
    string(p.sectionName, `${f}.sectionName`);
    integer(p.port, `${f}.port`, 1, 65535);
  });
  array(spec.hostnames, 'spec.hostnames').forEach((h, i) => string(h, `spec.hostnames[${i}]`, true));
}

function checkBackendRefs(value: unknown, field: string): void {
  eachObject(value, field, (b, bf) => {
    checkReference(b, bf);
    integer(b.port, `${bf}.port`, 1, 65535);
    integer(b.weight, `${bf}.weight`, 0, 1_000_000);
    eachObject(b.filters, `${bf}.filters`, checkFilter);
  });
}

export function checkHTTPRoute(doc: Fields): void {
  const spec = object(doc.spec, 'spec', true)!;
  checkCommonRouteSpec(spec);
  eachObject(spec.rules, 'spec.rules', (rule, f) => {
    eachObject(rule.matches, `${f}.matches`, (m, mf) => {
      const path = object(m.path, `${mf}.path`, false);
      if (path) {
        string(path.type, `${mf}.path.type`);
        string(path.value, `${mf}.path.value`);
      }
      checkMatchList(m.headers, `${mf}.headers`);
      checkMatchList(m.queryParams, `${mf}.queryParams`);
      string(m.method, `${mf}.method`);
    });
    eachObject(rule.filters, `${f}.filters`, checkFilter);
    checkBackendRefs(rule.backendRefs, `${f}.backendRefs`);
    const timeouts = object(rule.timeouts, `${f}.timeouts`, false);
    if (timeouts) {
      string(timeouts.request, `${f}.timeouts.request`);
      string(timeouts.backendRequest, `${f}.timeouts.backendRequest`);
    }
  });
}

export function checkGRPCRoute(doc: Fields): void {
  const spec = object(doc.spec, 'spec', true)!;
  checkCommonRouteSpec(spec);
  eachObject(spec.rules, 'spec.rules', (rule, f) => {
    string(rule.name, `${f}.name`);
    eachObject(rule.matches, `${f}.matches`, (m, mf) => {
      const method = object(m.method, `${mf}.method`, false);
      if (method) {
        string(method.type, `${mf}.method.type`);
        string(method.service, `${mf}.method.service`);
        string(method.method, `${mf}.method.method`);
      }
      checkMatchList(m.headers, `${mf}.headers`);
    });
    eachObject(rule.filters, `${f}.filters`, checkFilter);
    checkBackendRefs(rule.backendRefs, `${f}.backendRefs`);
  });
}

export function checkTLSRoute(doc: Fields): void {
  const spec = object(doc.spec, 'spec', true)!;
  checkCommonRouteSpec(spec);
  eachObject(spec.rules, 'spec.rules', (rule, f) => {
    string(rule.name, `${f}.name`);
    checkBackendRefs(rule.backendRefs, `${f}.backendRefs`);
  });
}

/** TCPRoute: a TLSRoute without hostnames (its rule's backendRefs, no filters). */
export function checkTCPRoute(doc: Fields): void {
  checkTLSRoute(doc);
}

/** UDPRoute: the same shape as a TCPRoute. */
export function checkUDPRoute(doc: Fields): void {
  checkTLSRoute(doc);
}

export function checkReferenceGrant(doc: Fields): void {
  const spec = object(doc.spec, 'spec', true)!;
  eachObject(spec.from, 'spec.from', (e, f) => {
    string(e.group, `${f}.group`);
    string(e.kind, `${f}.kind`, true);
    string(e.namespace, `${f}.namespace`, true);
  }, true);
  eachObject(spec.to, 'spec.to', (e, f) => {
    string(e.group, `${f}.group`);
    string(e.kind, `${f}.kind`, true);
    string(e.name, `${f}.name`);
  }, true);
}

export function checkBackendTLSPolicy(doc: Fields): void {
  const spec = object(doc.spec, 'spec', true)!;
  eachObject(spec.targetRefs, 'spec.targetRefs', (e, f) => {
    string(e.group, `${f}.group`);
    string(e.kind, `${f}.kind`, true);
    string(e.name, `${f}.name`, true);
    string(e.sectionName, `${f}.sectionName`);
  }, true);
  const validation = object(spec.validation, 'spec.validation', true)!;
  eachObject(validation.caCertificateRefs, 'spec.validation.caCertificateRefs', (e, f) => {
    string(e.group, `${f}.group`);
    string(e.kind, `${f}.kind`, true);
    string(e.name, `${f}.name`, true);
  });
  string(validation.wellKnownCACertificates, 'spec.validation.wellKnownCACertificates');
  string(validation.hostname, 'spec.validation.hostname', true);
  eachObject(validation.subjectAltNames, 'spec.validation.subjectAltNames', (e, f) => {
    string(e.type, `${f}.type`, true);
    string(e.hostname, `${f}.hostname`);
    string(e.uri, `${f}.uri`);
  });
}

export function checkListenerSet(doc: Fields): void {
  const spec = object(doc.spec, 'spec', true)!;
  checkReference(object(spec.parentRef, 'spec.parentRef', true)!, 'spec.parentRef');
  checkListeners(spec.listeners);
}
