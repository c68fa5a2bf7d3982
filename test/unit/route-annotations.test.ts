// A route's settings from its annotations: its own (route-annotations.ts: balance, timeouts,
// health check…) and each built-in policy's, read in the policy's plugin file and gathered by
// plugins/policies.ts into the compiled route's ordered { plugin, config } list.
import test from 'ava';
import Value from 'typebox/value';
import { ANNOTATIONS, buildRoutePolicy, parseRouteAnnotations } from '../../src/route-annotations.ts';
import { BUILTIN_POLICIES, checkRoutePlugins, routePlugins } from '../../src/plugins/policies.ts';
import type { PolicyRoute } from '../../src/plugins/route-policy.ts';
import { IP_ALLOWLIST, IP_WHITELIST, isIpOrCidr } from '../../src/plugins/ip-allowlist.ts';
import { HSTS_ANNOTATION, parseHsts } from '../../src/plugins/hsts.ts';
import { STICKY_ANNOTATIONS, defaultCookieName } from '../../src/plugins/sticky-cookie.ts';
import { FORWARDED_ANNOTATION } from '../../src/plugins/forwarded-headers.ts';
import { REWRITE_TARGET_ANNOTATION } from '../../src/plugins/rewrite-target.ts';
import type { CompiledTls } from '../../src/table/types.ts';
import { config } from '../fixtures/table/builders.ts';

function parsed(annotations: Record<string, string>) {
  const r = parseRouteAnnotations(annotations);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

function policy(annotations: Record<string, string>, endpointCount = 1, cfg = config()) {
  return buildRoutePolicy(parsed(annotations), { endpointCount, config: cfg });
}

function route(annotations: Record<string, string>, extra: Partial<PolicyRoute> = {}): PolicyRoute {
  return { key: 'Route/ns/r', kind: 'Route', path: '/app', annotations, tls: null, defaults: { connectTimeoutMs: 5000, setForwardedHeaders: 'append' }, ...extra };
}

/** The built-in plugins' configs by name. */
function plugins(annotations: Record<string, string>, extra: Partial<PolicyRoute> = {}): Record<string, unknown> {
  return Object.fromEntries(routePlugins(route(annotations, extra)).map((p) => [p.plugin, p.config]));
}

test('defaults come from the config', (t) => {
  const cfg = config({ loadBalanceAlgorithm: 'leastconn', serverTimeout: 12_000, tunnelTimeout: 99_000, connectTimeout: 4000 });
  const p = policy({}, 1, cfg);
  t.is(p.balance, 'leastconn');
  t.is(p.serverTimeoutMs, 12_000);
  t.is(p.tunnelTimeoutMs, 99_000);
  t.is(p.connectTimeoutMs, 4000);
  t.is(p.healthCheck, null);
  // A route with no policy annotation: forwarded headers by the router's default, and its sticky cookie.
  t.deepEqual(routePlugins(route({}, { defaults: { connectTimeoutMs: 5000, setForwardedHeaders: 'replace' } })), [
    { plugin: 'forwarded-headers', config: { policy: 'replace' } },
    { plugin: 'sticky-cookie', config: { cookieName: defaultCookieName('Route/ns/r'), sameSite: null } },
  ]);
  t.regex(defaultCookieName('Route/ns/r'), /^[0-9a-f]{32}$/);
});

test('OpenShift annotations are read, each by its policy, in chain order', (t) => {
  const p = policy({ [ANNOTATIONS.balance]: 'roundrobin', [ANNOTATIONS.timeout]: '5m', [ANNOTATIONS.timeoutTunnel]: '2h' });
  t.is(p.balance, 'roundrobin');
  t.is(p.serverTimeoutMs, 300_000);
  t.is(p.tunnelTimeoutMs, 7_200_000);
  const list = routePlugins(route({
    [STICKY_ANNOTATIONS.cookieName]: 'mycookie',
    [STICKY_ANNOTATIONS.cookieSameSite]: 'Strict',
    [FORWARDED_ANNOTATION]: 'never',
    [IP_ALLOWLIST]: '10.0.0.0/8  192.168.1.7 2001:db8::/32',
    [REWRITE_TARGET_ANNOTATION]: '/',
    [HSTS_ANNOTATION]: 'max-age=31536000;includeSubDomains;preload',
    'haproxy.router.openshift.io/rate-limit-connections': 'true',
    'haproxy.router.openshift.io/rate-limit-connections.rate-http': '100',
    'haproxy.router.openshift.io/pod-concurrent-connections': '4',
  }));
  t.deepEqual(list, [
    { plugin: 'forwarded-headers', config: { policy: 'never' } },
    { plugin: 'ip-allowlist', config: { entries: ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32'] } },
    { plugin: 'rate-limit', config: { concurrentTcp: null, rateTcp: null, rateHttp: 100 } },
    { plugin: 'sticky-cookie', config: { cookieName: 'mycookie', sameSite: 'Strict' } },
    { plugin: 'pod-concurrent-connections', config: { limit: 4, queueTimeoutMs: 5000 } },
    { plugin: 'rewrite-target', config: { routePath: '/app', target: '/' } },
    { plugin: 'hsts', config: { value: 'max-age=31536000; includeSubDomains; preload' } },
  ]);
});

test('every built-in policy\'s config is valid for its plugin\'s TypeBox schema', (t) => {
  const tls: CompiledTls = { termination: 'edge', insecurePolicy: 'Redirect', certificate: null, destinationCA: null };
  const list = routePlugins(route({
    [IP_ALLOWLIST]: '10.0.0.1', [HSTS_ANNOTATION]: 'max-age=1', [REWRITE_TARGET_ANNOTATION]: '/x',
    'haproxy.router.openshift.io/rate-limit-connections': 'true', 'haproxy.router.openshift.io/rate-limit-connections.concurrent-tcp': '2',
    'haproxy.router.openshift.io/pod-concurrent-connections': '1',
  }, { tls, httpHeaders: { actions: { response: [{ name: 'X-A', action: { type: 'Set', set: { value: 'b' } } }] } } }));
  t.true(list.length >= 9);
  for (const entry of list) {
    const plugin = BUILTIN_POLICIES.find((p) => p.plugin.name === entry.plugin)!.plugin;
    t.true(Value.Check(plugin.config!, entry.config), entry.plugin);
  }
});

test('the legacy ip_whitelist name is read when ip_allowlist is absent', (t) => {
  t.deepEqual(plugins({ [IP_WHITELIST]: '1.2.3.4' })['ip-allowlist'], { entries: ['1.2.3.4'] });
  t.is(plugins({ [IP_ALLOWLIST]: '  ' })['ip-allowlist'], undefined, 'an empty list means no restriction');
});

test('stickiness: disable_cookies, passthrough and HTTPRoutes turn it off', (t) => {
  t.is(plugins({ [STICKY_ANNOTATIONS.disableCookies]: 'true' })['sticky-cookie'], undefined);
  t.is(plugins({ [STICKY_ANNOTATIONS.disableCookies]: 'TRUE' })['sticky-cookie'], undefined);
  t.not(plugins({ [STICKY_ANNOTATIONS.disableCookies]: 'false' })['sticky-cookie'], undefined);
  t.is(plugins({}, { tls: { termination: 'passthrough', insecurePolicy: 'None', certificate: null, destinationCA: null } })['sticky-cookie'], undefined);
  t.is(plugins({}, { kind: 'HTTPRoute' })['sticky-cookie'], undefined);
});

test('health: TCP check only with more than one endpoint; timeout = min(interval, connect)', (t) => {
  const cfg = config({ backendCheckInterval: 5000, connectTimeout: 2000 });
  t.is(policy({}, 1, cfg).healthCheck, null);
  t.deepEqual(policy({}, 2, cfg).healthCheck, { type: 'tcp', intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3 });
  t.deepEqual(policy({ [ANNOTATIONS.openshiftCheckInterval]: '1s' }, 3, cfg).healthCheck, { type: 'tcp', intervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 3 });
});

test('health: an HTTP check when a path is set — the nginx upstream check is expressible', (t) => {
  const cfg = config({ backendCheckInterval: 5000 });
  t.deepEqual(policy({ [ANNOTATIONS.checkPath]: '/healthz' }, 1, cfg).healthCheck, {
    type: 'http', path: '/healthz', intervalMs: 5000, timeoutMs: 3000, rise: 2, fall: 3, expect: ['2xx'],
  });
  // interval=10000 rise=2 fall=3 timeout=3000 type=http; GET /favicon.ico; 2xx
  t.deepEqual(policy({
    [ANNOTATIONS.checkPath]: '/favicon.ico', [ANNOTATIONS.checkInterval]: '10000', [ANNOTATIONS.checkTimeout]: '3000',
    [ANNOTATIONS.checkRise]: '2', [ANNOTATIONS.checkFall]: '3', [ANNOTATIONS.checkExpect]: '2xx',
  }, 1, cfg).healthCheck, {
    type: 'http', path: '/favicon.ico', intervalMs: 10_000, timeoutMs: 3000, rise: 2, fall: 3, expect: ['2xx'],
  });
  t.deepEqual(policy({ [ANNOTATIONS.checkPath]: '/', [ANNOTATIONS.checkExpect]: '2xx, 301,404' }).healthCheck?.expect, ['2xx', '301', '404']);
});

const invalidSettings: Array<[string, string]> = [
  [ANNOTATIONS.balance, 'fastest'],
  [ANNOTATIONS.timeout, '5 parsecs'],
  [ANNOTATIONS.timeout, '0s'],
  [ANNOTATIONS.timeoutTunnel, '-1s'],
  [ANNOTATIONS.openshiftCheckInterval, 'often'],
  [ANNOTATIONS.checkPath, 'favicon.ico'],
  [ANNOTATIONS.checkRise, '0'],
  [ANNOTATIONS.checkFall, 'three'],
  [ANNOTATIONS.checkExpect, '2xy'],
  [ANNOTATIONS.checkExpect, '700'],
  [ANNOTATIONS.targetPortAnnotation, 'not valid!'],
];

for (const [name, value] of invalidSettings) {
  test(`invalid ${name}="${value}" is reported by name`, (t) => {
    const r = parseRouteAnnotations({ [name]: value });
    t.false(r.ok);
    if (!r.ok) {
      t.is(r.annotation, name);
      t.true(r.message.includes(name));
    }
  });
}

const invalidPolicies: Array<[string, string]> = [
  [STICKY_ANNOTATIONS.disableCookies, 'maybe'],
  [STICKY_ANNOTATIONS.cookieName, 'bad cookie'],
  [FORWARDED_ANNOTATION, 'sometimes'],
  [IP_ALLOWLIST, '10.0.0.0/33'],
  [IP_ALLOWLIST, '10.0.0.1 not-an-ip'],
  [REWRITE_TARGET_ANNOTATION, 'no-slash'],
  [HSTS_ANNOTATION, 'includeSubDomains'],
  [HSTS_ANNOTATION, 'max-age=abc'],
  [HSTS_ANNOTATION, 'max-age=1;unknown'],
  ['haproxy.router.openshift.io/rate-limit-connections', 'yes'],
  ['haproxy.router.openshift.io/pod-concurrent-connections', '0'],
];

for (const [name, value] of invalidPolicies) {
  test(`invalid ${name}="${value}" is reported by its policy, by name`, (t) => {
    const error = checkRoutePlugins(route({ [name]: value }));
    t.is(error?.reason, 'InvalidAnnotation');
    t.is(error?.annotation, name);
    t.true(error!.message.includes(name));
  });
}

test('invalid header actions reject the Route with RouteNotAdmitted', (t) => {
  const error = checkRoutePlugins(route({}, { httpHeaders: { actions: { request: [{ name: 'Host', action: { type: 'Set', set: { value: 'x' } } }] } } }));
  t.is(error?.reason, 'RouteNotAdmitted');
});

test('hsts normalisation and CIDR checks', (t) => {
  t.is(parseHsts(' MAX-AGE="600" ; preload '), 'max-age=600; preload');
  t.true(isIpOrCidr('::1'));
  t.true(isIpOrCidr('fd00::/8'));
  t.false(isIpOrCidr('fd00::/129'));
  t.false(isIpOrCidr('1.2.3.4/'));
  t.true(parseRouteAnnotations(undefined).ok);
});

test('durations above 2^31-1 ms are refused with a reason naming the annotation (they would overflow Node timers)', (t) => {
  for (const name of [ANNOTATIONS.timeout, ANNOTATIONS.timeoutTunnel, 'switchyard.io/health-check-interval', 'switchyard.io/health-check-timeout', 'router.openshift.io/haproxy.health.check.interval']) {
    const r = parseRouteAnnotations({ [name]: '30d', 'switchyard.io/health-check-path': '/h' });
    t.false(r.ok, name);
    if (!r.ok) {
      t.is(r.annotation, name);
      t.regex(r.message, /too long: at most 2147483647 ms/);
    }
  }
  t.true(parseRouteAnnotations({ [ANNOTATIONS.timeoutTunnel]: '24d' }).ok);
});

test('switchyard.io/trace-sampling: always, never, or the router\'s sampler by default; anything else rejects the route', (t) => {
  t.is(policy({}).traceSampling, 'default');
  t.is(policy({ [ANNOTATIONS.traceSampling]: 'always' }).traceSampling, 'always');
  t.is(policy({ [ANNOTATIONS.traceSampling]: ' never ' }).traceSampling, 'never');
  const bad = parseRouteAnnotations({ [ANNOTATIONS.traceSampling]: '0.5' });
  t.false(bad.ok);
  if (!bad.ok) t.is(bad.annotation, 'switchyard.io/trace-sampling');
});
