import test from 'ava';
import net from 'node:net';
import { SourceRate, SourceConcurrency, RouteRateLimit } from '../../src/plugins/rate-limit-state.ts';
import { rateLimitPolicy } from '../../src/plugins/rate-limit.ts';
import { RouteSettingError } from '../../src/annotation-values.ts';

test('SourceRate: at most `limit` events per window per source, sliding', (t) => {
  const rate = new SourceRate(5, 10_000);
  let allowed = 0;
  for (let i = 0; i < 10; i++) if (rate.allow('1.1.1.1', 1000 + i)) allowed++;
  t.is(allowed, 5);
  t.true(rate.allow('2.2.2.2', 1000), 'another source has its own budget');
  // Half of the next window later, about half the previous window's events still count.
  t.false(rate.allow('1.1.1.1', 1000 + 10_000 + 100) && rate.allow('1.1.1.1', 1000 + 10_000 + 101) && rate.allow('1.1.1.1', 1000 + 10_000 + 102));
  // Two windows later everything is forgotten.
  let later = 0;
  for (let i = 0; i < 10; i++) if (rate.allow('1.1.1.1', 1000 + 30_000 + i)) later++;
  t.is(later, 5);
});

test('SourceRate: memory is bounded by the number of sources', (t) => {
  const rate = new SourceRate(1, 10_000, 10);
  for (let i = 0; i < 100; i++) rate.allow(`10.0.0.${i}`, 0);
  // The oldest sources were evicted: they get a fresh budget (bounded memory beats perfect memory).
  t.true(rate.allow('10.0.0.0', 1));
});

test('SourceConcurrency: acquire up to the limit, release frees a slot', (t) => {
  const c = new SourceConcurrency(2);
  t.true(c.acquire('a'));
  t.true(c.acquire('a'));
  t.false(c.acquire('a'));
  t.true(c.acquire('b'));
  c.release('a');
  t.true(c.acquire('a'));
});

test('RouteRateLimit: rate-tcp counts each connection once; rate-http every request', (t) => {
  const limit = new RouteRateLimit({ concurrentTcp: null, rateTcp: 2, rateHttp: 3 });
  const s1 = new net.Socket();
  const s2 = new net.Socket();
  const s3 = new net.Socket();
  t.true(limit.admit(s1, 'ip', 0));
  t.true(limit.admit(s1, 'ip', 1)); // same connection: not a new one
  t.true(limit.admit(s2, 'ip', 2));
  t.false(limit.admit(s3, 'ip', 3), 'third connection in 3 s');
  t.false(limit.admit(s1, 'ip', 4), 'fourth request in 10 s');
  t.false(limit.holdsSlot);
});

test('annotations: limits apply only with rate-limit-connections "true"; bad values are rejected', (t) => {
  const fromRoute = (annotations: Record<string, string>) => rateLimitPolicy.fromRoute({ key: 'Route/ns/r', kind: 'Route', path: '', annotations, tls: null, defaults: { connectTimeoutMs: 1000, setForwardedHeaders: 'append' } });
  t.deepEqual(fromRoute({
    'haproxy.router.openshift.io/rate-limit-connections': 'true',
    'haproxy.router.openshift.io/rate-limit-connections.rate-http': '100',
  }), { concurrentTcp: null, rateTcp: null, rateHttp: 100 });
  t.is(fromRoute({ 'haproxy.router.openshift.io/rate-limit-connections.rate-http': '100' }), null);
  const error = t.throws(() => fromRoute({ 'haproxy.router.openshift.io/rate-limit-connections': 'true', 'haproxy.router.openshift.io/rate-limit-connections.concurrent-tcp': 'lots' }), { instanceOf: RouteSettingError });
  t.is(error?.annotation, 'haproxy.router.openshift.io/rate-limit-connections.concurrent-tcp');
});
