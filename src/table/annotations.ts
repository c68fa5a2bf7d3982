// Per-route annotations (OpenShift's names, switchyard's extensions) parsed and validated into
// the pieces of a RoutePolicy. Parsing is strict: a value we cannot read makes the route
// rejected with reason InvalidAnnotation (admission/validation.ts) rather than served with a
// setting the user did not ask for.

import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { RouterConfig } from '../config.ts';
import { parseDurationText as parseDuration } from '../duration.ts';
import { BACKEND_PROTOCOL_ANNOTATION, BACKEND_PROTOCOL_VALUES, protocolOfAnnotation, type BackendProtocol } from './backend-protocol.ts';
import { BALANCE_ALGORITHMS, FORWARDED_POLICIES, type Balance, type ForwardedPolicy, type HealthCheckSpec, type RateLimitSpec, type RoutePolicy } from './types.ts';

export const ANNOTATIONS = Object.freeze({
  balance: 'haproxy.router.openshift.io/balance',
  timeout: 'haproxy.router.openshift.io/timeout',
  timeoutTunnel: 'haproxy.router.openshift.io/timeout-tunnel',
  disableCookies: 'haproxy.router.openshift.io/disable_cookies',
  cookieName: 'router.openshift.io/cookie_name',
  cookieSameSite: 'router.openshift.io/cookie-same-site',
  forwarded: 'haproxy.router.openshift.io/set-forwarded-headers',
  ipAllowlist: 'haproxy.router.openshift.io/ip_allowlist',
  /** The name OpenShift used before 4.14; still read when ip_allowlist is absent. */
  ipWhitelist: 'haproxy.router.openshift.io/ip_whitelist',
  rewriteTarget: 'haproxy.router.openshift.io/rewrite-target',
  hsts: 'haproxy.router.openshift.io/hsts_header',
  openshiftCheckInterval: 'router.openshift.io/haproxy.health.check.interval',
  checkPath: 'switchyard.io/health-check-path',
  checkInterval: 'switchyard.io/health-check-interval',
  checkTimeout: 'switchyard.io/health-check-timeout',
  checkRise: 'switchyard.io/health-check-rise',
  checkFall: 'switchyard.io/health-check-fall',
  checkExpect: 'switchyard.io/health-check-expect',
  targetPortAnnotation: 'switchyard.io/target-port-annotation',
  rateLimit: 'haproxy.router.openshift.io/rate-limit-connections',
  rateConcurrentTcp: 'haproxy.router.openshift.io/rate-limit-connections.concurrent-tcp',
  rateTcp: 'haproxy.router.openshift.io/rate-limit-connections.rate-tcp',
  rateHttp: 'haproxy.router.openshift.io/rate-limit-connections.rate-http',
  podConcurrentConnections: 'haproxy.router.openshift.io/pod-concurrent-connections',
  middlewares: 'switchyard.io/middlewares',
  backendProtocol: BACKEND_PROTOCOL_ANNOTATION,
});

const BALANCES: readonly Balance[] = BALANCE_ALGORITHMS;
const SAME_SITE = ['Lax', 'Strict', 'None'] as const;
const FORWARDED: readonly ForwardedPolicy[] = FORWARDED_POLICIES;
/** RFC 6265 cookie-name token characters. */
const COOKIE_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/;
/** A pod annotation name (what AUTO_PORT0 is); same rule as label keys, kept simple. */
const ANNOTATION_NAME = /^([a-z0-9.-]{1,253}\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;

/** What the annotations say, before endpoint counts and TLS are known. */
export interface AnnotationPolicy {
  balance: Balance | null;
  serverTimeoutMs: number | null;
  tunnelTimeoutMs: number | null;
  disableCookies: boolean;
  cookieName: string | null;
  cookieSameSite: 'Lax' | 'Strict' | 'None' | null;
  forwarded: ForwardedPolicy | null;
  ipAllowlist: string[] | null;
  rewriteTarget: string | null;
  hsts: string | null;
  openshiftCheckIntervalMs: number | null;
  checkPath: string | null;
  checkIntervalMs: number | null;
  checkTimeoutMs: number | null;
  checkRise: number | null;
  checkFall: number | null;
  checkExpect: string[] | null;
  /** Pod annotation holding the endpoint port (autoport), e.g. AUTO_PORT0. */
  targetPortAnnotation: string | null;
  rateLimit: RateLimitSpec | null;
  podConcurrentConnections: number | null;
  /** switchyard.io/backend-protocol; null: the Service port's appProtocol decides. */
  backendProtocol: BackendProtocol | null;
}

export type AnnotationParseResult =
  | { ok: true; value: AnnotationPolicy }
  | { ok: false; annotation: string; message: string };

class InvalidAnnotationValue extends Error {
  readonly annotation: string;
  constructor(annotation: string, message: string) {
    super(message);
    this.annotation = annotation;
  }
}

function fail(annotation: string, why: string): never {
  throw new InvalidAnnotationValue(annotation, `annotation ${annotation}: ${why}`);
}

function positiveDuration(annotations: Record<string, string>, name: string): number | null {
  const raw = annotations[name];
  if (raw === undefined) return null;
  let ms: number;
  try { ms = parseDuration(raw); } catch (err) { return fail(name, (err as Error).message); }
  if (!(ms > 0)) fail(name, `duration must be greater than 0, got "${raw}"`);
  return ms;
}

function boundedInt(annotations: Record<string, string>, name: string, min: number, max: number): number | null {
  const raw = annotations[name];
  if (raw === undefined) return null;
  if (!/^\d+$/.test(raw.trim())) fail(name, `expected an integer, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) fail(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function oneOf<T extends string>(annotations: Record<string, string>, name: string, values: readonly T[]): T | null {
  const raw = annotations[name];
  if (raw === undefined) return null;
  const v = raw.trim() as T;
  if (!values.includes(v)) fail(name, `must be one of ${values.join(', ')}, got "${raw}"`);
  return v;
}

/** An IP address or CIDR (IPv4 or IPv6), as HAProxy's `src` ACL accepts. */
export function isIpOrCidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash === -1) return isIP(text) !== 0;
  const family = isIP(text.slice(0, slash));
  const bits = text.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function parseAllowlist(annotations: Record<string, string>): string[] | null {
  const name = annotations[ANNOTATIONS.ipAllowlist] !== undefined ? ANNOTATIONS.ipAllowlist : ANNOTATIONS.ipWhitelist;
  const raw = annotations[name];
  if (raw === undefined) return null;
  const entries = raw.split(/\s+/).filter((s) => s !== '');
  if (entries.length === 0) return null; // OpenShift: an empty list means no restriction
  for (const e of entries) if (!isIpOrCidr(e)) fail(name, `"${e}" is not an IP address or CIDR`);
  return entries;
}

/** `max-age=<n>` required; `includeSubDomains` and `preload` optional; `;`-separated, any case. */
export function parseHsts(raw: string, name: string = ANNOTATIONS.hsts): string {
  let maxAge: string | null = null;
  let subdomains = false;
  let preload = false;
  for (const part of raw.split(';').map((p) => p.trim()).filter((p) => p !== '')) {
    const age = /^max-age\s*=\s*"?(\d+)"?$/i.exec(part);
    if (age) {
      if (maxAge !== null) fail(name, 'max-age given twice');
      maxAge = age[1]!;
    } else if (/^includesubdomains$/i.test(part)) {
      if (subdomains) fail(name, 'includeSubDomains given twice');
      subdomains = true;
    } else if (/^preload$/i.test(part)) {
      if (preload) fail(name, 'preload given twice');
      preload = true;
    } else {
      fail(name, `unknown directive "${part}" (allowed: max-age=<seconds>, includeSubDomains, preload)`);
    }
  }
  if (maxAge === null) fail(name, 'must contain max-age=<seconds>');
  return [`max-age=${maxAge}`, ...(subdomains ? ['includeSubDomains'] : []), ...(preload ? ['preload'] : [])].join('; ');
}

function parseExpect(annotations: Record<string, string>): string[] | null {
  const raw = annotations[ANNOTATIONS.checkExpect];
  if (raw === undefined) return null;
  const items = raw.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (items.length === 0) fail(ANNOTATIONS.checkExpect, 'needs at least one status class (2xx) or code (204)');
  for (const item of items) {
    if (!/^[1-5]xx$/.test(item) && !(/^\d{3}$/.test(item) && Number(item) >= 100 && Number(item) <= 599)) {
      fail(ANNOTATIONS.checkExpect, `"${item}" is neither a status class like 2xx nor a status code`);
    }
  }
  return items;
}

function parseAll(a: Record<string, string>): AnnotationPolicy {
  const disable = a[ANNOTATIONS.disableCookies];
  if (disable !== undefined && !/^(true|false)$/i.test(disable.trim())) {
    fail(ANNOTATIONS.disableCookies, `expected "true" or "false", got "${disable}"`);
  }
  const cookieName = a[ANNOTATIONS.cookieName];
  if (cookieName !== undefined && !COOKIE_TOKEN.test(cookieName)) fail(ANNOTATIONS.cookieName, `"${cookieName}" is not a valid cookie name`);
  const rewrite = a[ANNOTATIONS.rewriteTarget];
  if (rewrite !== undefined && (!rewrite.startsWith('/') || /[\s?#]/.test(rewrite))) {
    fail(ANNOTATIONS.rewriteTarget, `must be a path starting with "/" (no spaces, query or fragment), got "${rewrite}"`);
  }
  const checkPath = a[ANNOTATIONS.checkPath];
  if (checkPath !== undefined && (!checkPath.startsWith('/') || /\s/.test(checkPath))) {
    fail(ANNOTATIONS.checkPath, `must be a path starting with "/", got "${checkPath}"`);
  }
  const portAnnotation = a[ANNOTATIONS.targetPortAnnotation];
  if (portAnnotation !== undefined && !ANNOTATION_NAME.test(portAnnotation)) {
    fail(ANNOTATIONS.targetPortAnnotation, `"${portAnnotation}" is not a valid annotation name`);
  }
  const hsts = a[ANNOTATIONS.hsts];
  const rateLimitOn = a[ANNOTATIONS.rateLimit];
  if (rateLimitOn !== undefined && !/^(true|false)$/i.test(rateLimitOn.trim())) {
    fail(ANNOTATIONS.rateLimit, `expected "true" or "false", got "${rateLimitOn}"`);
  }
  const limits = {
    concurrentTcp: boundedInt(a, ANNOTATIONS.rateConcurrentTcp, 1, 1_000_000),
    rateTcp: boundedInt(a, ANNOTATIONS.rateTcp, 1, 1_000_000),
    rateHttp: boundedInt(a, ANNOTATIONS.rateHttp, 1, 1_000_000),
  };
  // As OpenShift: the limits apply only when rate-limit-connections is "true".
  const rateLimit = rateLimitOn?.trim().toLowerCase() === 'true' && (limits.concurrentTcp ?? limits.rateTcp ?? limits.rateHttp) !== null
    ? limits : null;
  return {
    balance: oneOf(a, ANNOTATIONS.balance, BALANCES),
    serverTimeoutMs: positiveDuration(a, ANNOTATIONS.timeout),
    tunnelTimeoutMs: positiveDuration(a, ANNOTATIONS.timeoutTunnel),
    disableCookies: disable !== undefined && disable.trim().toLowerCase() === 'true',
    cookieName: cookieName ?? null,
    cookieSameSite: oneOf(a, ANNOTATIONS.cookieSameSite, SAME_SITE),
    forwarded: oneOf(a, ANNOTATIONS.forwarded, FORWARDED),
    ipAllowlist: parseAllowlist(a),
    rewriteTarget: rewrite ?? null,
    hsts: hsts === undefined ? null : parseHsts(hsts),
    openshiftCheckIntervalMs: positiveDuration(a, ANNOTATIONS.openshiftCheckInterval),
    checkPath: checkPath ?? null,
    checkIntervalMs: positiveDuration(a, ANNOTATIONS.checkInterval),
    checkTimeoutMs: positiveDuration(a, ANNOTATIONS.checkTimeout),
    checkRise: boundedInt(a, ANNOTATIONS.checkRise, 1, 100),
    checkFall: boundedInt(a, ANNOTATIONS.checkFall, 1, 100),
    checkExpect: parseExpect(a),
    targetPortAnnotation: portAnnotation ?? null,
    rateLimit,
    podConcurrentConnections: boundedInt(a, ANNOTATIONS.podConcurrentConnections, 1, 1_000_000),
    backendProtocol: backendProtocol(a),
  };
}

function backendProtocol(a: Record<string, string>): BackendProtocol | null {
  const value = oneOf(a, ANNOTATIONS.backendProtocol, BACKEND_PROTOCOL_VALUES);
  return value === null ? null : protocolOfAnnotation(value);
}

/** Parse every annotation we read; the first invalid one is reported by name. */
export function parseRouteAnnotations(annotations: Readonly<Record<string, string>> | undefined): AnnotationParseResult {
  try {
    return { ok: true, value: parseAll({ ...(annotations ?? {}) }) };
  } catch (err) {
    if (err instanceof InvalidAnnotationValue) return { ok: false, annotation: err.annotation, message: err.message };
    throw err;
  }
}

/** OpenShift names the sticky cookie after a hash of the backend; so do we (stable across replicas). */
export function defaultCookieName(routeKey: string): string {
  // Hex of 16 bytes, not a slice of the 64-character hex (which would keep that alive per route).
  return createHash('sha256').update(routeKey).digest().toString('hex', 0, 16);
}

export interface PolicyInputs {
  routeKey: string;
  /** Endpoints over all services of the route (decides whether a TCP check applies). */
  endpointCount: number;
  passthrough: boolean;
  /** The router defaults a route's policy falls back on. */
  config: Pick<RouterConfig, 'backendCheckInterval' | 'connectTimeout' | 'loadBalanceAlgorithm' | 'serverTimeout' | 'tunnelTimeout' | 'setForwardedHeaders'>;
}

function healthCheck(p: AnnotationPolicy, inputs: PolicyInputs): HealthCheckSpec | null {
  const { config } = inputs;
  if (p.checkPath !== null) {
    return {
      type: 'http',
      path: p.checkPath,
      intervalMs: p.checkIntervalMs ?? p.openshiftCheckIntervalMs ?? config.backendCheckInterval,
      timeoutMs: p.checkTimeoutMs ?? 3000,
      rise: p.checkRise ?? 2,
      fall: p.checkFall ?? 3,
      expect: p.checkExpect ?? ['2xx'],
    };
  }
  // As OpenShift: a TCP check only when there is more than one endpoint to choose from.
  if (inputs.endpointCount <= 1) return null;
  const intervalMs = p.openshiftCheckIntervalMs ?? config.backendCheckInterval;
  return tcpCheck(intervalMs, Math.min(intervalMs, config.connectTimeout));
}

/**
 * TCP checks are the same for nearly every route (the router's interval): one frozen spec per
 * interval/timeout pair is shared by all the routes using it instead of an object per route.
 */
const TCP_CHECKS = new Map<string, HealthCheckSpec>();

export function tcpCheck(intervalMs: number, timeoutMs: number): HealthCheckSpec {
  const key = `${intervalMs}/${timeoutMs}`;
  let spec = TCP_CHECKS.get(key);
  if (spec === undefined) {
    spec = Object.freeze({ type: 'tcp', intervalMs, timeoutMs, rise: 2, fall: 3 }) as HealthCheckSpec;
    if (TCP_CHECKS.size < 1000) TCP_CHECKS.set(key, spec); // bounded: intervals come from annotations
  }
  return spec;
}

export function buildRoutePolicy(p: AnnotationPolicy, inputs: PolicyInputs): RoutePolicy {
  const { config } = inputs;
  return {
    balance: p.balance ?? config.loadBalanceAlgorithm,
    sticky: p.disableCookies || inputs.passthrough ? null : { cookieName: p.cookieName ?? defaultCookieName(inputs.routeKey), sameSite: p.cookieSameSite },
    connectTimeoutMs: config.connectTimeout,
    serverTimeoutMs: p.serverTimeoutMs ?? config.serverTimeout,
    tunnelTimeoutMs: p.tunnelTimeoutMs ?? config.tunnelTimeout,
    forwarded: p.forwarded ?? config.setForwardedHeaders,
    healthCheck: healthCheck(p, inputs),
    ipAllowlist: p.ipAllowlist,
    rewriteTarget: p.rewriteTarget,
    hsts: p.hsts,
    rateLimit: p.rateLimit,
    headerActions: null,
    podConcurrentConnections: p.podConcurrentConnections,
  };
}
