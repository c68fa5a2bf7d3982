import test from 'ava';
import { ANNOTATIONS, buildRoutePolicy, defaultCookieName, isIpOrCidr, parseHsts, parseRouteAnnotations } from '../../src/table/annotations.ts';
import { config } from '../fixtures/table/builders.ts';

function parsed(annotations: Record<string, string>) {
  const r = parseRouteAnnotations(annotations);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

function policy(annotations: Record<string, string>, endpointCount = 1, passthrough = false, cfg = config()) {
  return buildRoutePolicy(parsed(annotations), { routeKey: 'Route/ns/r', endpointCount, passthrough, config: cfg });
}

test('defaults come from the config', (t) => {
  const cfg = config({ loadBalanceAlgorithm: 'leastconn', serverTimeout: 12_000, tunnelTimeout: 99_000, connectTimeout: 4000, setForwardedHeaders: 'replace' });
  const p = policy({}, 1, false, cfg);
  t.is(p.balance, 'leastconn');
  t.is(p.serverTimeoutMs, 12_000);
  t.is(p.tunnelTimeoutMs, 99_000);
  t.is(p.connectTimeoutMs, 4000);
  t.is(p.forwarded, 'replace');
  t.deepEqual(p.sticky, { cookieName: defaultCookieName('Route/ns/r'), sameSite: null });
  t.regex(p.sticky!.cookieName, /^[0-9a-f]{32}$/);
  t.is(p.healthCheck, null);
  t.is(p.ipAllowlist, null);
  t.is(p.rewriteTarget, null);
  t.is(p.hsts, null);
});

test('OpenShift annotations are read', (t) => {
  const p = policy({
    [ANNOTATIONS.balance]: 'roundrobin',
    [ANNOTATIONS.timeout]: '5m',
    [ANNOTATIONS.timeoutTunnel]: '2h',
    [ANNOTATIONS.cookieName]: 'mycookie',
    [ANNOTATIONS.cookieSameSite]: 'Strict',
    [ANNOTATIONS.forwarded]: 'never',
    [ANNOTATIONS.ipAllowlist]: '10.0.0.0/8  192.168.1.7 2001:db8::/32',
    [ANNOTATIONS.rewriteTarget]: '/',
    [ANNOTATIONS.hsts]: 'max-age=31536000;includeSubDomains;preload',
  });
  t.is(p.balance, 'roundrobin');
  t.is(p.serverTimeoutMs, 300_000);
  t.is(p.tunnelTimeoutMs, 7_200_000);
  t.deepEqual(p.sticky, { cookieName: 'mycookie', sameSite: 'Strict' });
  t.is(p.forwarded, 'never');
  t.deepEqual(p.ipAllowlist, ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32']);
  t.is(p.rewriteTarget, '/');
  t.is(p.hsts, 'max-age=31536000; includeSubDomains; preload');
});

test('the legacy ip_whitelist name is read when ip_allowlist is absent', (t) => {
  t.deepEqual(policy({ [ANNOTATIONS.ipWhitelist]: '1.2.3.4' }).ipAllowlist, ['1.2.3.4']);
});

test('stickiness: disable_cookies and passthrough turn it off', (t) => {
  t.is(policy({ [ANNOTATIONS.disableCookies]: 'true' }).sticky, null);
  t.is(policy({ [ANNOTATIONS.disableCookies]: 'TRUE' }).sticky, null);
  t.not(policy({ [ANNOTATIONS.disableCookies]: 'false' }).sticky, null);
  t.is(policy({}, 1, true).sticky, null);
});

test('health: TCP check only with more than one endpoint; timeout = min(interval, connect)', (t) => {
  const cfg = config({ backendCheckInterval: 5000, connectTimeout: 2000 });
  t.is(policy({}, 1, false, cfg).healthCheck, null);
  t.deepEqual(policy({}, 2, false, cfg).healthCheck, { type: 'tcp', intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3 });
  t.deepEqual(policy({ [ANNOTATIONS.openshiftCheckInterval]: '1s' }, 3, false, cfg).healthCheck, { type: 'tcp', intervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 3 });
});

test('health: an HTTP check when a path is set — the nginx upstream check is expressible', (t) => {
  const cfg = config({ backendCheckInterval: 5000 });
  t.deepEqual(policy({ [ANNOTATIONS.checkPath]: '/healthz' }, 1, false, cfg).healthCheck, {
    type: 'http', path: '/healthz', intervalMs: 5000, timeoutMs: 3000, rise: 2, fall: 3, expect: ['2xx'],
  });
  // interval=10000 rise=2 fall=3 timeout=3000 type=http; GET /favicon.ico; 2xx
  t.deepEqual(policy({
    [ANNOTATIONS.checkPath]: '/favicon.ico', [ANNOTATIONS.checkInterval]: '10000', [ANNOTATIONS.checkTimeout]: '3000',
    [ANNOTATIONS.checkRise]: '2', [ANNOTATIONS.checkFall]: '3', [ANNOTATIONS.checkExpect]: '2xx',
  }, 1, false, cfg).healthCheck, {
    type: 'http', path: '/favicon.ico', intervalMs: 10_000, timeoutMs: 3000, rise: 2, fall: 3, expect: ['2xx'],
  });
  t.deepEqual(policy({ [ANNOTATIONS.checkPath]: '/', [ANNOTATIONS.checkExpect]: '2xx, 301,404' }).healthCheck?.expect, ['2xx', '301', '404']);
});

const invalid: Array<[string, string]> = [
  [ANNOTATIONS.balance, 'fastest'],
  [ANNOTATIONS.timeout, '5 parsecs'],
  [ANNOTATIONS.timeout, '0s'],
  [ANNOTATIONS.timeoutTunnel, '-1s'],
  [ANNOTATIONS.disableCookies, 'maybe'],
  [ANNOTATIONS.cookieName, 'bad cookie'],
  [ANNOTATIONS.forwarded, 'sometimes'],
  [ANNOTATIONS.ipAllowlist, '10.0.0.0/33'],
  [ANNOTATIONS.ipAllowlist, '10.0.0.1 not-an-ip'],
  [ANNOTATIONS.rewriteTarget, 'no-slash'],
  [ANNOTATIONS.hsts, 'includeSubDomains'],
  [ANNOTATIONS.hsts, 'max-age=abc'],
  [ANNOTATIONS.hsts, 'max-age=1;unknown'],
  [ANNOTATIONS.openshiftCheckInterval, 'often'],
  [ANNOTATIONS.checkPath, 'favicon.ico'],
  [ANNOTATIONS.checkRise, '0'],
  [ANNOTATIONS.checkFall, 'three'],
  [ANNOTATIONS.checkExpect, '2xy'],
  [ANNOTATIONS.checkExpect, '700'],
  [ANNOTATIONS.targetPortAnnotation, 'not valid!'],
];

for (const [name, value] of invalid) {
  test(`invalid ${name}="${value}" is reported by name`, (t) => {
    const r = parseRouteAnnotations({ [name]: value });
    t.false(r.ok);
    if (!r.ok) {
      t.is(r.annotation, name);
      t.true(r.message.includes(name));
    }
  });
}

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
