// The router never crashes on anything a client or a tenant can send: seeded random and
// hand-crafted malformed requests on both ports, and seeded random mutations of tenant objects.
// Afterwards the process is alive and the valid route still answers.
import test from 'ava';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, rawExchange, eventually } from '../support/http-client.ts';

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let router: RouterProcess;
let backend: Backend;
let file: string;
const SEED = 20261122;

test.before(async () => {
  backend = await startBackend('ok');
  file = writeTempFile([serviceYaml('ok', [backend.port]), routeYaml('ok', 'ok.test', 'ok')].join('\n---\n'));
  router = await startRouter({ args: ['--file', file, '--header-timeout', '1s', '--allow-wildcard-routes'] });
});
test.after.always(async () => { await router?.stop(); await backend?.close(); });

function blast(port: number, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.setTimeout(1500, () => socket.destroy());
    socket.on('data', () => {});
    socket.end(data);
  });
}

test.serial('random bytes and malformed requests on the HTTP and HTTPS ports', async (t) => {
  const random = prng(SEED);
  const blobs: Buffer[] = [];
  for (let i = 0; i < 60; i++) {
    const len = 1 + Math.floor(random() * 4096);
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = Math.floor(random() * 256);
    // Half of them start like a request or a TLS record, to get past the first checks.
    if (i % 3 === 0) buf.write('GET / HTTP/1.1\r\nHost: ok.test\r\n', 0, 'latin1');
    if (i % 3 === 1) { buf[0] = 0x16; buf[1] = 0x03; buf[2] = 0x01; }
    blobs.push(buf);
  }
  const crafted = [
    'GET / HTTP/1.1\r\nHost: ok.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'POST / HTTP/1.1\r\nHost: ok.test\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n',
    'GET /\u0000x HTTP/1.1\r\nHost: ok.test\r\n\r\n',
    `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: ok.test\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: ok.test\r\n${Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`,
    'GET / HTTP/1.1\r\nHost: ok.test\r\nX-Folded: a\r\n b\r\n\r\n',
    'GET /\r\n\r\n',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'CONNECT ok.test:443 HTTP/1.1\r\nHost: ok.test:443\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: ok.test\r\nHost: other.test\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: ok.test\r\nContent-Length: -1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: ok.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: [::1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: \r\n\r\n',
    'GET / HTTP/9.9\r\nHost: ok.test\r\n\r\n',
  ].map((s) => Buffer.from(s, 'latin1'));
  for (const data of [...blobs, ...crafted]) {
    await blast(router.http, data);
    await blast(router.https, data);
  }
  t.is(router.child.exitCode, null, router.stderr());
  t.is((await request(router.http, { host: 'ok.test' })).status, 200);
  // A raw request after all that still gets a proper response on a fresh connection.
  t.regex(await rawExchange(router.http, 'GET / HTTP/1.1\r\nHost: ok.test\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
  t.false(/uncaught exception|fatal/i.test(router.stderr()), router.stderr());
});

test.serial('seeded random mutations of tenant objects never take down the valid route', async (t) => {
  const random = prng(SEED + 1);
  const weird: unknown[] = [null, 0, -1, 1e308, 'x'.repeat(5000), '', '*', '..', '/\u0000', [], {}, true, { nested: [1, { a: null }] }, '${name}', '300', 257, 'Subdomain', '*.', '%00'];
  const strings = ['', '*', '..', '/\u0000', 'x'.repeat(5000), '${name}', '*.', '%00', 'UPPER.Case.test', 'a..b', '-a.b', 'ünïcode.test', 'a/b', ' ', '/', '//x', '/a?b', '5s', '-1s', '1e9h', 'roundrobin', 'source', '0.0.0.0/0', '::/0', '10.0.0.0/33', 'max-age=-1', 'Subdomain', 'None', 'passthrough', 'edge', 'reencrypt', '-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----'];
  // Mostly well-typed nonsense (reaches admission and compile); sometimes the wrong type (validation).
  const pick = () => (random() < 0.8 ? strings[Math.floor(random() * strings.length)] : weird[Math.floor(random() * weird.length)]);
  const docs: string[] = [serviceYaml('ok', [backend.port]), routeYaml('ok', 'ok.test', 'ok')];
  const paths: Array<(o: Record<string, any>) => void> = [
    (o) => { o.spec.host = pick(); }, (o) => { o.spec.path = pick(); }, (o) => { o.spec.to = pick(); },
    (o) => { o.spec.to.weight = Math.floor(random() * 300); }, (o) => { o.spec.port = { targetPort: pick() }; },
    (o) => { o.spec.tls = { termination: pick(), certificate: pick(), key: pick() }; },
    (o) => { o.spec.wildcardPolicy = pick(); }, (o) => { o.spec.alternateBackends = pick(); },
    (o) => { o.metadata.annotations = { 'haproxy.router.openshift.io/timeout': pick(), 'haproxy.router.openshift.io/balance': pick(), 'haproxy.router.openshift.io/ip_allowlist': pick(), 'switchyard.io/health-check-path': pick(), 'switchyard.io/health-check-interval': pick() }; },
    (o) => { o.metadata.labels = { [String(pick())]: pick() }; }, (o) => { o.metadata.creationTimestamp = random() < 0.5 ? pick() : new Date(Math.floor(random() * 2e12)).toISOString(); },
    (o) => { o.spec = pick(); }, (o) => { o.kind = 'Ingress'; o.apiVersion = 'networking.k8s.io/v1'; o.spec = { rules: [{ host: pick(), http: { paths: [{ path: pick(), pathType: pick(), backend: { service: { name: 'ok', port: { number: pick() } } } }] } }], defaultBackend: pick() }; },
    (o) => { o.kind = 'EndpointSlice'; o.apiVersion = 'discovery.k8s.io/v1'; o.metadata.labels = { 'kubernetes.io/service-name': 'ok' }; o.endpoints = [{ addresses: [pick()], conditions: { ready: pick() } }]; o.ports = [{ port: pick(), name: 'http' }]; o.addressType = pick(); },
  ];
  for (let i = 0; i < 120; i++) {
    const o: Record<string, any> = { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: `fuzz-${i}`, namespace: 'default' }, spec: { host: `v${i}.fuzz.test`, to: { kind: 'Service', name: 'ok' } } };
    const mutations = 1 + Math.floor(random() * 3);
    for (let m = 0; m < mutations; m++) {
      try { paths[Math.floor(random() * paths.length)]!(o); } catch { /* a mutation of a field that is no longer an object */ }
    }
    docs.push(JSON.stringify(o));
  }
  writeFileSync(file, docs.join('\n---\n'));
  // Applied (or rejected object by object) within a few seconds, the valid route untouched.
  const mutants = async () => (await request(router.admin, { path: '/debug/routes' })).json<{ admission: Array<{ key: string }> }>().admission.filter((r) => r.key.includes('/fuzz-')).length;
  await eventually(async () => (await mutants()) >= 10, 5000);
  t.is(router.child.exitCode, null, router.stderr());
  t.is((await request(router.http, { host: 'ok.test' })).status, 200);
  const debug = await request(router.admin, { path: '/debug/routes' });
  t.is(debug.status, 200);
  // The file was applied object by object, not refused whole: some mutants were considered
  // by admission (admitted or rejected with a reason), the rest refused by validation.
  const considered = debug.json<{ admission: Array<{ key: string; admitted: boolean }> }>().admission.filter((r) => r.key.includes('/fuzz-'));
  t.true(considered.length >= 10, `only ${considered.length} mutants reached admission`);
  t.true(considered.some((r) => !r.admitted), 'some mutants were rejected by admission');
  t.false(/uncaught exception|fatal/i.test(router.stderr()), router.stderr());
});
