// TLS admission against a real router process fed by a file that the test rewrites:
// a passthrough Route keeps its host from a younger path-based edge Route (promoted when the
// passthrough Route is deleted); a Route whose externalCertificate Secret is missing serves
// nothing until the Secret appears; an Ingress whose Secret fails validation is still served,
// with the default certificate, until the Secret is fixed.
import test from 'ava';
import https from 'node:https';
import tls from 'node:tls';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { createCa, expiredCertificate, issueCertificate, type TestCertificate } from '../support/certs.ts';
import type { AdmissionResult } from '../../src/table/types.ts';

let router: RouterProcess;
let file: string;
let echo: Backend;
let secure: https.Server;
let securePort: number;
let ca: TestCertificate;
let extCert: TestCertificate;
let ingCert: TestCertificate;
let ingExpired: TestCertificate;

function routeDoc(name: string, host: string, service: string, second: number, spec: string): string {
  return `apiVersion: route.openshift.io/v1
kind: Route
metadata: { name: ${name}, namespace: default, creationTimestamp: "2024-01-01T00:00:0${second}Z" }
spec:
  host: ${host}
  to: { kind: Service, name: ${service} }
${spec}`;
}

function secretDoc(name: string, cert: TestCertificate): string {
  return `apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: { name: ${name}, namespace: default }
stringData: ${JSON.stringify({ 'tls.crt': cert.cert, 'tls.key': cert.key })}`;
}

const INGRESS = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ing, namespace: default }
spec:
  ingressClassName: switchyard
  tls: [{ hosts: [ing.test], secretName: ing-tls }]
  rules:
  - host: ing.test
    http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: echo, port: { number: 80 } } } }] }`;

function documents(options: { pass: boolean; extSecret: boolean; ingSecret: TestCertificate }): string {
  return [
    serviceYaml('echo', [echo.port]),
    serviceYaml('secure', [securePort], { portName: 'https' }),
    ...(options.pass ? [routeDoc('pass', 'pass.test', 'secure', 1, '  tls: { termination: passthrough }')] : []),
    routeDoc('api', 'pass.test', 'echo', 2, '  path: /api\n  tls: { termination: edge }'),
    routeDoc('ext', 'ext.test', 'echo', 3, '  tls: { termination: edge, externalCertificate: { name: ext-tls } }'),
    ...(options.extSecret ? [secretDoc('ext-tls', extCert)] : []),
    INGRESS,
    secretDoc('ing-tls', options.ingSecret),
  ].join('\n---\n');
}

test.before(async () => {
  ca = await createCa('tls admission CA');
  const backendCert = await issueCertificate(ca, ['secure.default.svc', 'pass.test']);
  [extCert, ingCert, ingExpired] = await Promise.all([
    issueCertificate(ca, ['ext.test']),
    issueCertificate(ca, ['ing.test']),
    expiredCertificate(ca, ['ing.test']),
  ]);
  echo = await startBackend('echo');
  secure = https.createServer({ cert: backendCert.cert, key: backendCert.key }, (req, res) => {
    const body = JSON.stringify({ backend: 'secure', url: req.url });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  secure.listen(0, '127.0.0.1');
  await once(secure, 'listening');
  securePort = (secure.address() as AddressInfo).port;
  file = writeTempFile(documents({ pass: true, extSecret: false, ingSecret: ingExpired }));
  router = await startRouter({ args: ['--file', file] });
});

test.after.always(async () => {
  await router?.stop();
  await echo?.close();
  secure?.closeAllConnections();
  secure?.close();
});

interface HttpsReply { status: number; body: string; subject: string }

function httpsGet(host: string, path = '/', verify = false): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: router.https, path, servername: host, headers: { host }, ca: ca.cert, rejectUnauthorized: verify, agent: false,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, subject: String((res.socket as tls.TLSSocket).getPeerCertificate().subject?.CN ?? '') }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function debugRoutes(): Promise<{ admission: AdmissionResult[]; hosts: Array<{ host: string; routes: Array<{ key: string; notes: string[]; tls: { certificate: string } | null }> }> }> {
  return (await request(router.admin, { path: '/debug/routes' })).json();
}

async function admission(name: string): Promise<AdmissionResult> {
  return (await debugRoutes()).admission.find((r) => r.name === name)!;
}

// The tests share one router and rewrite its file, so they run in order.
test.serial('passthrough owns its host: the younger edge route with a path is rejected and not served', async (t) => {
  const api = await admission('api');
  t.false(api.admitted);
  t.is(api.reason, 'HostAlreadyClaimed');
  t.regex(api.message!, /route default\/pass .*passthrough hosts cannot be shared/);
  const reply = await httpsGet('pass.test', '/api/x', true);
  t.is(reply.subject, 'secure.default.svc', 'the TLS connection went straight to the passthrough backend');
  t.deepEqual(JSON.parse(reply.body), { backend: 'secure', url: '/api/x' });
});

test.serial('externalCertificate with a missing Secret: rejected, nothing served', async (t) => {
  const ext = await admission('ext');
  t.is(ext.reason, 'ExtendedValidationFailed');
  t.is(ext.message, 'secret default/ext-tls not found');
  t.is((await httpsGet('ext.test')).status, 404);
});

test.serial('Ingress with an expired Secret certificate: still served, with the default certificate and a note', async (t) => {
  t.true((await admission('ing')).admitted);
  const reply = await httpsGet('ing.test');
  t.is(reply.status, 200);
  t.not(reply.subject, 'ing.test');
  const host = (await debugRoutes()).hosts.find((h) => h.host === 'ing.test')!;
  t.is(host.routes[0]!.tls!.certificate, 'default');
  t.regex(host.routes[0]!.notes.join('\n'), /secret default\/ing-tls is not a valid certificate: tls\.crt expired on .*serving the default certificate/);
});

test.serial('the Secrets appear / are fixed and the passthrough route goes: everything is re-admitted without a restart', async (t) => {
  writeFileSync(file, documents({ pass: false, extSecret: true, ingSecret: ingCert }));
  await eventually(async () => (await admission('ext')).admitted && (await admission('api')).admitted, 5000, 50);
  const ext = await httpsGet('ext.test', '/e', true);
  t.is(ext.status, 200);
  t.is(ext.subject, 'ext.test', 'served with the Secret certificate, verified by the client');
  const ing = await eventually(async () => {
    const reply = await httpsGet('ing.test', '/', true).catch(() => null);
    return reply?.subject === 'ing.test' ? reply : null;
  }, 5000, 50);
  t.is(ing!.status, 200);
  const api = await httpsGet('pass.test', '/api/y');
  t.is(api.status, 200, 'the edge route is promoted once the passthrough route is deleted');
  t.is((JSON.parse(api.body) as { backend: string }).backend, 'echo');
  t.is(router.child.exitCode, null);
});
