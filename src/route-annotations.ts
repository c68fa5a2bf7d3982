// A route's own settings from its annotations (OpenShift's names, switchyard's extensions): the
// balance algorithm, timeouts, health check, the pod annotation holding the endpoint port, the
// backend protocol, trace sampling. What the built-in policies read — allowlist, rate limits, stickiness, HSTS,
// rewrite-target… — each reads in its own plugin file (plugins/*.ts, see plugins/policies.ts).
// Parsing is strict: a value we cannot read rejects the route with reason InvalidAnnotation
// rather than serving it with a setting the user did not ask for.

import type { RouterConfig } from './config.ts';
import {
  RouteSettingError, boundedInt, invalidAnnotation, oneOf, positiveDuration, type Annotations,
} from './annotation-values.ts';
import { BACKEND_PROTOCOL_ANNOTATION, BACKEND_PROTOCOL_VALUES, protocolOfAnnotation, type BackendProtocol } from './table/backend-protocol.ts';
import { BALANCE_ALGORITHMS, TRACE_SAMPLING, type Balance, type HealthCheckSpec, type RoutePolicy, type TraceSampling } from './table/types.ts';

export const ANNOTATIONS = Object.freeze({
  balance: 'haproxy.router.openshift.io/balance',
  timeout: 'haproxy.router.openshift.io/timeout',
  timeoutTunnel: 'haproxy.router.openshift.io/timeout-tunnel',
  openshiftCheckInterval: 'router.openshift.io/haproxy.health.check.interval',
  checkPath: 'switchyard.io/health-check-path',
  checkInterval: 'switchyard.io/health-check-interval',
  checkTimeout: 'switchyard.io/health-check-timeout',
  checkRise: 'switchyard.io/health-check-rise',
  checkFall: 'switchyard.io/health-check-fall',
  checkExpect: 'switchyard.io/health-check-expect',
  targetPortAnnotation: 'switchyard.io/target-port-annotation',
  middlewares: 'switchyard.io/middlewares',
  traceSampling: 'switchyard.io/trace-sampling',
  backendProtocol: BACKEND_PROTOCOL_ANNOTATION,
});

/** A pod annotation name (what AUTO_PORT0 is); same rule as label keys, kept simple. */
const ANNOTATION_NAME = /^([a-z0-9.-]{1,253}\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;

/** What the annotations say of the route's own settings, before endpoint counts are known. */
export interface RouteSettings {
  balance: Balance | null;
  serverTimeoutMs: number | null;
  tunnelTimeoutMs: number | null;
  openshiftCheckIntervalMs: number | null;
  checkPath: string | null;
  checkIntervalMs: number | null;
  checkTimeoutMs: number | null;
  checkRise: number | null;
  checkFall: number | null;
  checkExpect: string[] | null;
  /** Pod annotation holding the endpoint port (autoport), e.g. AUTO_PORT0. */
  targetPortAnnotation: string | null;
  /** switchyard.io/trace-sampling; null: the router's sampler decides. */
  traceSampling: TraceSampling | null;
  /** switchyard.io/backend-protocol; null: the Service port's appProtocol decides. */
  backendProtocol: BackendProtocol | null;
}

export type RouteSettingsResult =
  | { ok: true; value: RouteSettings }
  | { ok: false; annotation: string; message: string };

function parseExpect(annotations: Annotations): string[] | null {
  const raw = annotations[ANNOTATIONS.checkExpect];
  if (raw === undefined) return null;
  const items = raw.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (items.length === 0) invalidAnnotation(ANNOTATIONS.checkExpect, 'needs at least one status class (2xx) or code (204)');
  for (const item of items) {
    if (!/^[1-5]xx$/.test(item) && !(/^\d{3}$/.test(item) && Number(item) >= 100 && Number(item) <= 599)) {
      invalidAnnotation(ANNOTATIONS.checkExpect, `"${item}" is neither a status class like 2xx nor a status code`);
    }
  }
  return items;
}

function parseAll(a: Annotations): RouteSettings {
  const checkPath = a[ANNOTATIONS.checkPath];
  if (checkPath !== undefined && (!checkPath.startsWith('/') || /\s/.test(checkPath))) {
    invalidAnnotation(ANNOTATIONS.checkPath, `must be a path starting with "/", got "${checkPath}"`);
  }
  const portAnnotation = a[ANNOTATIONS.targetPortAnnotation];
  if (portAnnotation !== undefined && !ANNOTATION_NAME.test(portAnnotation)) {
    invalidAnnotation(ANNOTATIONS.targetPortAnnotation, `"${portAnnotation}" is not a valid annotation name`);
  }
  const protocol = oneOf(a, ANNOTATIONS.backendProtocol, BACKEND_PROTOCOL_VALUES);
  return {
    balance: oneOf(a, ANNOTATIONS.balance, BALANCE_ALGORITHMS),
    serverTimeoutMs: positiveDuration(a, ANNOTATIONS.timeout),
    tunnelTimeoutMs: positiveDuration(a, ANNOTATIONS.timeoutTunnel),
    openshiftCheckIntervalMs: positiveDuration(a, ANNOTATIONS.openshiftCheckInterval),
    checkPath: checkPath ?? null,
    checkIntervalMs: positiveDuration(a, ANNOTATIONS.checkInterval),
    checkTimeoutMs: positiveDuration(a, ANNOTATIONS.checkTimeout),
    checkRise: boundedInt(a, ANNOTATIONS.checkRise, 1, 100),
    checkFall: boundedInt(a, ANNOTATIONS.checkFall, 1, 100),
    checkExpect: parseExpect(a),
    targetPortAnnotation: portAnnotation ?? null,
    traceSampling: oneOf(a, ANNOTATIONS.traceSampling, TRACE_SAMPLING),
    backendProtocol: protocol === null ? null : protocolOfAnnotation(protocol),
  };
}

/** Parse the route's own settings; the first invalid annotation is reported by name. */
export function parseRouteAnnotations(annotations: Annotations | undefined): RouteSettingsResult {
  try {
    return { ok: true, value: parseAll(annotations ?? {}) };
  } catch (err) {
    if (err instanceof RouteSettingError) return { ok: false, annotation: err.annotation ?? '', message: err.message };
    throw err;
  }
}

export interface SettingsInputs {
  /** Endpoints over all services of the route (decides whether a TCP check applies). */
  endpointCount: number;
  /** The router defaults a route's settings fall back on. */
  config: Pick<RouterConfig, 'backendCheckInterval' | 'connectTimeout' | 'loadBalanceAlgorithm' | 'serverTimeout' | 'tunnelTimeout'>;
}

function healthCheck(p: RouteSettings, inputs: SettingsInputs): HealthCheckSpec | null {
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

/** The route's forwarding settings: balance, timeouts, health check, trace sampling. */
export function buildRoutePolicy(p: RouteSettings, inputs: SettingsInputs): RoutePolicy {
  const { config } = inputs;
  return {
    balance: p.balance ?? config.loadBalanceAlgorithm,
    connectTimeoutMs: config.connectTimeout,
    serverTimeoutMs: p.serverTimeoutMs ?? config.serverTimeout,
    tunnelTimeoutMs: p.tunnelTimeoutMs ?? config.tunnelTimeout,
    healthCheck: healthCheck(p, inputs),
    traceSampling: p.traceSampling ?? 'default',
  };
}
