// The HTTPRoute CORS filter's pure parts (src/gateway/cors.ts): reading and validating the
// filter, origin parsing and matching (exact, `*.domain`, `*`, scheme and default ports), the
// preflight answer and the headers added to actual responses, `*` with and without credentials;
// the structural check of the filter's fields (objects/gateway-validate.ts).
import test from 'ava';
import type { OutgoingHttpHeaders } from 'node:http';
import {
  addCorsResponseHeaders, corsOriginAllowed, corsPreflightHeaders, isCorsPreflight, parseCorsFilter, parseOrigin, prepareCors, tokenList, varyWithOrigin,
} from '../../src/gateway/cors.ts';
import { evaluateRouteRules } from '../../src/gateway/route-rules.ts';
import { validateObject } from '../../src/objects/validate.ts';
import type { HTTPCORSFilter, HTTPRoute, HTTPRouteFilter } from '../../src/objects/gateway-types.ts';
import type { Service } from '../../src/objects/types.ts';

function prepared(f: HTTPCORSFilter) {
  return prepareCors(parseCorsFilter(f));
}

test('parseCorsFilter: origins normalised with their default ports, maxAge 5 by default', (t) => {
  const p = parseCorsFilter({ allowOrigins: ['https://www.Foo.com', 'http://*.bar.com:8080', 'https://*'], allowMethods: ['GET', 'OPTIONS'] });
  t.deepEqual(p, {
    anyOrigin: false,
    origins: [
      { scheme: 'https', host: 'www.foo.com', wildcard: false, port: 443 },
      { scheme: 'http', host: '.bar.com', wildcard: true, port: 8080 },
      { scheme: 'https', host: '', wildcard: true, port: 443 },
    ],
    credentials: false, methods: ['GET', 'OPTIONS'], headers: [], expose: [], maxAge: 5,
  });
  t.like(parseCorsFilter({ allowOrigins: ['*'], allowCredentials: true, maxAge: 3600 }), { anyOrigin: true, origins: [], credentials: true, maxAge: 3600 });
});

test('parseCorsFilter: invalid values are refused with a reason', (t) => {
  const refused = (f: HTTPCORSFilter | undefined, message: RegExp) => {
    const err = t.throws(() => parseCorsFilter(f));
    t.is((err as { reason?: string }).reason, 'UnsupportedValue');
    t.regex(err!.message, message);
  };
  refused(undefined, /cors\.is missing/);
  refused({ allowOrigins: ['*', 'https://a.com'] }, /allowOrigins cannot contain "\*"/);
  refused({ allowOrigins: ['ftp://a.com'] }, /allowOrigins: "ftp:\/\/a.com"/);
  refused({ allowOrigins: ['https://a.com/path'] }, /allowOrigins/);
  refused({ allowOrigins: ['https://a.*.com'] }, /allowOrigins/);
  refused({ allowOrigins: ['https://a.com:70000'] }, /port out of 1-65535/);
  refused({ allowOrigins: ['https://a.com:0'] }, /port out of 1-65535/);
  refused({ allowMethods: ['get'] }, /allowMethods: "get"/);
  refused({ allowMethods: ['*', 'GET'] }, /allowMethods cannot contain/);
  refused({ allowHeaders: ['*', 'x-a'] }, /allowHeaders cannot contain/);
  refused({ allowHeaders: ['bad header'] }, /allowHeaders: "bad header" is not a header name/);
  refused({ exposeHeaders: ['x:y'] }, /exposeHeaders/);
  refused({ maxAge: 0 }, /maxAge must be at least 1/);
});

test('an HTTPRoute rule: CORS becomes table data; an invalid or repeated one makes the route not Accepted', (t) => {
  const route = (filters: HTTPRouteFilter[]): HTTPRoute => ({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'apps' },
    spec: { rules: [{ filters, backendRefs: [{ name: 'a', port: 80 }] }] },
  });
  const inputs = { grants: { grantsIn: () => [] }, service: () => ({ kind: 'Service' } as Service) };
  const ok = evaluateRouteRules(route([{ type: 'CORS', cors: { allowOrigins: ['https://a.com'] } }]), inputs);
  t.is(ok.unsupported, null);
  t.like(ok.rules[0]!.cors, { anyOrigin: false, origins: [{ scheme: 'https', host: 'a.com', wildcard: false, port: 443 }] });
  t.is(evaluateRouteRules(route([]), inputs).rules[0]!.cors, undefined);
  const bad = evaluateRouteRules(route([{ type: 'CORS', cors: { allowOrigins: ['https://a.com/x'] } }]), inputs);
  t.like(bad.unsupported, { type: 'Accepted', status: 'False', reason: 'UnsupportedValue' });
  t.regex(bad.unsupported!.message, /cors\.allowOrigins/);
  const twice = evaluateRouteRules(route([{ type: 'CORS', cors: {} }, { type: 'CORS', cors: {} }]), inputs);
  t.like(twice.unsupported, { reason: 'UnsupportedValue', message: 'CORS filter cannot be repeated' });
});

test('parseOrigin: scheme://host[:port] only, lower-cased, default ports', (t) => {
  t.deepEqual(parseOrigin('https://WWW.foo.com'), { scheme: 'https', host: 'www.foo.com', port: 443 });
  t.deepEqual(parseOrigin('http://foo.com'), { scheme: 'http', host: 'foo.com', port: 80 });
  t.deepEqual(parseOrigin('http://foo.com:8080'), { scheme: 'http', host: 'foo.com', port: 8080 });
  t.deepEqual(parseOrigin('http://[::1]:3000'), { scheme: 'http', host: '[::1]', port: 3000 });
  t.deepEqual(parseOrigin('chrome-extension://abc'), { scheme: 'chrome-extension', host: 'abc', port: 0 });
  for (const bad of ['null', '', 'https://', 'https://a.com/', 'https://a.com:', 'https://a.com:0', 'https://a.com:65536', 'https://a.com:123456',
    'https://user@a.com', 'https://a.com, https://b.com', '1http://a.com', 'https://a.com:80x', 'http://[::1', 'http://[]']) {
    t.is(parseOrigin(bad), null, bad);
  }
});

test('origin matching: exact with default ports, `*.domain` any number of labels, scheme and port must agree', (t) => {
  const cors = prepared({ allowOrigins: ['https://www.foo.com', 'https://*.bar.com', 'http://*.dev.test:8080', 'http://*:3000'] });
  const allowed = (o: string) => corsOriginAllowed(cors, o);
  t.true(allowed('https://www.foo.com'));
  t.true(allowed('https://www.foo.com:443'), 'the default port is the same origin');
  t.true(allowed('HTTPS://WWW.FOO.COM'));
  t.false(allowed('http://www.foo.com'), 'another scheme');
  t.false(allowed('https://www.foo.com:8443'), 'another port');
  t.false(allowed('https://foo.com'));
  t.false(allowed('https://evil-www.foo.com'));
  t.true(allowed('https://www.bar.com'));
  t.true(allowed('https://xpto.www.bar.com'), 'any number of labels left of *');
  t.false(allowed('https://bar.com'), 'the wildcard needs a label');
  t.false(allowed('https://evilbar.com'));
  t.false(allowed('http://www.bar.com'));
  t.true(allowed('http://a.b.dev.test:8080'));
  t.false(allowed('http://a.dev.test'), 'port 80 is not 8080');
  t.true(allowed('http://localhost:3000'), 'a host of * alone: any host on that scheme and port');
  t.false(allowed('http://localhost:3001'));
  t.false(allowed('null'));
  t.false(allowed('https://www.foo.com/'));
});

test('allowOrigins `*`: any origin; echoed (well-formed only) with credentials, `*` without', (t) => {
  const open = prepared({ allowOrigins: ['*'] });
  t.true(corsOriginAllowed(open, 'https://foobar.com:12345'));
  t.true(corsOriginAllowed(open, 'null'), 'ACAO * is the same answer to every origin');
  t.is(corsPreflightHeaders(open, 'https://foobar.com:12345', 'PUT', undefined)['access-control-allow-origin'], '*');
  const creds = prepared({ allowOrigins: ['*'], allowCredentials: true });
  t.false(corsOriginAllowed(creds, 'null'), 'never echo null with credentials');
  t.is(corsPreflightHeaders(creds, 'https://Other.foo.com', 'PUT', undefined)['access-control-allow-origin'], 'https://Other.foo.com');
  const none = prepared({});
  t.false(corsOriginAllowed(none, 'https://a.com'), 'no allowOrigins: no origin');
});

test('preflight: the configured lists, credentials, expose headers, max age, Vary', (t) => {
  const cors = prepared({
    allowOrigins: ['https://www.foo.com', 'https://*.bar.com'], allowMethods: ['GET', 'OPTIONS'], allowHeaders: ['x-header-1', 'x-header-2'],
    exposeHeaders: ['x-header-3', 'x-header-4'], allowCredentials: true, maxAge: 3600,
  });
  t.deepEqual(corsPreflightHeaders(cors, 'https://xpto.www.bar.com', 'GET', 'x-header-1, x-header-2'), {
    'content-length': 0, vary: 'Origin',
    'access-control-allow-origin': 'https://xpto.www.bar.com', 'access-control-allow-credentials': 'true',
    'access-control-allow-methods': 'GET, OPTIONS', 'access-control-allow-headers': 'x-header-1, x-header-2',
    'access-control-expose-headers': 'x-header-3, x-header-4', 'access-control-max-age': '3600',
  });
  // Not allowed: an OK answer without any CORS header.
  t.deepEqual(corsPreflightHeaders(cors, 'https://foobar.com', 'GET', undefined), { 'content-length': 0, vary: 'Origin' });
  t.deepEqual(corsPreflightHeaders(cors, ['https://www.foo.com', 'https://x.bar.com'], 'GET', undefined), { 'content-length': 0, vary: 'Origin' });
  // Nothing configured but the origin: the default max age, no method or header lists, no credentials.
  t.deepEqual(corsPreflightHeaders(prepared({ allowOrigins: ['https://a.com'] }), 'https://a.com', 'PUT', 'x-a'), {
    'content-length': 0, vary: 'Origin', 'access-control-allow-origin': 'https://a.com', 'access-control-max-age': '5',
  });
});

test('preflight: `*` methods and headers echo what is asked (well-formed), omitted when not asked', (t) => {
  for (const credentials of [true, false]) {
    const cors = prepared({ allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'], allowCredentials: credentials });
    const h = corsPreflightHeaders(cors, 'https://other.foo.com', 'PUT', 'x-header-1,X-Header-2 ,  x-3');
    t.is(h['access-control-allow-methods'], 'PUT');
    t.is(h['access-control-allow-headers'], 'x-header-1, X-Header-2, x-3');
    t.is(h['access-control-allow-credentials'], credentials ? 'true' : undefined);
    t.is(h['access-control-allow-origin'], credentials ? 'https://other.foo.com' : '*');
    const bare = corsPreflightHeaders(cors, 'https://other.foo.com', 'PUT', undefined);
    t.false('access-control-allow-headers' in bare);
    const malformed = corsPreflightHeaders(cors, 'https://other.foo.com', 'P T', 'x-a, bad header');
    t.false('access-control-allow-methods' in malformed);
    t.false('access-control-allow-headers' in malformed);
  }
});

test('tokenList and isCorsPreflight', (t) => {
  t.is(tokenList('a,b'), 'a, b');
  t.is(tokenList(' a , , b\t'), 'a, b');
  t.is(tokenList(''), null);
  t.is(tokenList(' , '), null);
  t.is(tokenList('a, b\u00e9'), null);
  t.true(isCorsPreflight('OPTIONS', 'https://a.com', 'GET'));
  t.false(isCorsPreflight('OPTIONS', undefined, 'GET'), 'no Origin: an ordinary OPTIONS');
  t.false(isCorsPreflight('OPTIONS', 'https://a.com', undefined), 'no Access-Control-Request-Method: an actual request');
  t.false(isCorsPreflight('GET', 'https://a.com', 'GET'));
});

test('actual responses: allow origin and credentials, expose headers, Vary merged; nothing for another origin', (t) => {
  const cors = prepared({ allowOrigins: ['https://www.foo.com'], exposeHeaders: ['x-header-3'], allowCredentials: true });
  const allowed: OutgoingHttpHeaders = { 'content-type': 'text/plain', vary: 'Accept-Encoding' };
  addCorsResponseHeaders(cors, 'https://www.foo.com', allowed);
  t.deepEqual(allowed, {
    'content-type': 'text/plain', vary: 'Accept-Encoding, Origin',
    'access-control-allow-origin': 'https://www.foo.com', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-header-3',
  });
  const other: OutgoingHttpHeaders = { 'content-type': 'text/plain', 'access-control-allow-origin': 'https://backend.choice' };
  addCorsResponseHeaders(cors, 'https://foobar.com', other);
  t.deepEqual(other, { 'content-type': 'text/plain', 'access-control-allow-origin': 'https://backend.choice', vary: 'Origin' }, 'the backend\'s own answer passes');
  const noOrigin: OutgoingHttpHeaders = {};
  addCorsResponseHeaders(cors, undefined, noOrigin);
  t.deepEqual(noOrigin, { vary: 'Origin' }, 'a cache must not serve it to another origin');
  // Without credentials the filter's answer replaces a backend's Allow-Credentials.
  const plain = prepared({ allowOrigins: ['https://www.foo.com'] });
  const h: OutgoingHttpHeaders = { 'access-control-allow-credentials': 'true' };
  addCorsResponseHeaders(plain, 'https://www.foo.com', h);
  t.deepEqual(h, { vary: 'Origin', 'access-control-allow-origin': 'https://www.foo.com' });
  // `*` without credentials: the same answer for every origin, no Vary.
  const open: OutgoingHttpHeaders = {};
  addCorsResponseHeaders(prepared({ allowOrigins: ['*'], exposeHeaders: ['*'] }), 'https://x.test', open);
  t.deepEqual(open, { 'access-control-allow-origin': '*', 'access-control-expose-headers': '*' });
});

test('exposeHeaders `*` with credentials: the response\'s own header names instead of `*`', (t) => {
  const cors = prepared({ allowOrigins: ['https://a.com'], exposeHeaders: ['*', 'x-listed'], allowCredentials: true });
  const h: OutgoingHttpHeaders = { 'x-backend': 'b', 'content-type': 'application/json' };
  addCorsResponseHeaders(cors, 'https://a.com', h);
  t.is(h['access-control-expose-headers'], 'x-listed, x-backend, content-type');
  t.is(corsPreflightHeaders(cors, 'https://a.com', 'GET', undefined)['access-control-expose-headers'], 'x-listed');
});

test('varyWithOrigin', (t) => {
  t.is(varyWithOrigin(undefined), 'Origin');
  t.is(varyWithOrigin(''), 'Origin');
  t.is(varyWithOrigin('accept-encoding'), 'accept-encoding, Origin');
  t.is(varyWithOrigin('Accept, origin'), 'Accept, origin');
  t.is(varyWithOrigin('*'), '*');
  t.is(varyWithOrigin(['a', 'b']), 'a, b, Origin');
});

test('structural validation: the CORS fields have the types read, the values are left to the route status', (t) => {
  const doc = (cors: Record<string, unknown>) => ({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'apps' },
    spec: { rules: [{ filters: [{ type: 'CORS', cors }] }] },
  });
  t.true(validateObject(doc({ allowOrigins: ['https://a.com'], allowCredentials: true, allowMethods: ['GET'], allowHeaders: ['x'], exposeHeaders: ['y'], maxAge: 10 })).ok);
  t.true(validateObject(doc({ allowOrigins: ['not an origin'], maxAge: 0 })).ok, 'values: UnsupportedValue on the status, not a dropped object');
  const refused = (cors: Record<string, unknown>, field: string) => {
    const result = validateObject(doc(cors));
    t.false(result.ok);
    if (!result.ok) t.is(result.field, field);
  };
  refused({ allowOrigins: 'https://a.com' }, 'spec.rules[0].filters[0].cors.allowOrigins');
  refused({ allowMethods: [1] }, 'spec.rules[0].filters[0].cors.allowMethods[0]');
  refused({ allowCredentials: 'yes' }, 'spec.rules[0].filters[0].cors.allowCredentials');
  refused({ maxAge: 1.5 }, 'spec.rules[0].filters[0].cors.maxAge');
});
