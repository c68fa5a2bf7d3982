// Edge start-up and shutdown: --shutdown-delay (readiness fails first, the router keeps
// serving), tunnels outliving --drain-timeout within --tunnel-drain-timeout, the default
// certificate from a mounted kubernetes.io/tls Secret reloaded on change, stats credentials
// from files, and the admin endpoints on a pod-local Unix socket.
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import WebSocket from 'ws';
import { CLI, startRouter, writeTempFile } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../support/backends.ts';
import { request, eventually } from '../support/http-client.ts';
import { selfSignedCertificate, type TestCertificate } from '../support/certs.ts';
import { runCommand } from '../support/run-command.ts';

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

test('--shutdown-delay: readiness fails at once, new connections are still served, then the ports close', async (t) => {
  const backend = await startBackend('d');
  t.teardown(() => backend.close());
  const file = writeTempFile([serviceYaml('d', [backend.port]), routeYaml('d', 'delay.test', 'd')].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--shutdown-delay', '6s'] });
  t.teardown(() => router.stop());
  router.child.kill('SIGTERM');
  // The shutdown delay has begun (its log line): readiness already fails.
  await router.waitForLog((l) => l.msg === 'not ready; still accepting for the shutdown delay', 10_000);
  t.is((await request(router.admin, { path: '/healthz/ready' })).status, 503);
  // Not ready, still accepting (a new connection): an L4 balancer's health check takes the node out meanwhile.
  const reply = await request(router.http, { host: 'delay.test' });
  t.is(reply.status, 200);
  await router.waitForLog((l) => l.msg === 'draining', 10_000);
  await eventually(() => connectRefused(router.http), 10_000, 20); // a bound: fails the test
  t.is((await router.exited).code, 0);
});

test('tunnels outlive --drain-timeout: a request is cut at it, a WebSocket keeps working until --tunnel-drain-timeout', async (t) => {
  const backend = await startBackend('ws', { websocket: true });
  t.teardown(() => backend.close());
  const file = writeTempFile([serviceYaml('ws', [backend.port]), routeYaml('ws', 'tunnel.test', 'ws')].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--drain-timeout', '300ms', '--tunnel-drain-timeout', '20s'] });
  t.teardown(() => router.stop());
  const ws = new WebSocket(`ws://127.0.0.1:${router.http}/`, { headers: { host: 'tunnel.test' } });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const slow = request(router.http, { host: 'tunnel.test', path: '/?delay=15000' }).then((r) => r.status, (err: NodeJS.ErrnoException) => err.code ?? err.message);
  await eventually(() => backend.requests.some((r) => r.url.includes('delay=15000')), 30_000); // a bound
  router.child.kill('SIGTERM');
  t.not(await slow, 200, 'the request was cut at the drain timeout');
  const echoed = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
  ws.send('after the request deadline');
  t.is(await echoed, 'ws:after the request deadline');
  ws.close();
  t.is((await router.exited).code, 0);
});

/** A Secret volume as the kubelet writes it: tls.crt -> ..data/tls.crt, ..data -> a timestamped dir. */
function secretVolume(): { dir: string; publish(cert: TestCertificate): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-secret-'));
  let n = 0;
  const publish = (cert: TestCertificate) => {
    const version = `..v${++n}`;
    mkdirSync(path.join(dir, version));
    writeFileSync(path.join(dir, version, 'tls.crt'), cert.cert);
    writeFileSync(path.join(dir, version, 'tls.key'), cert.key);
    symlinkSync(version, path.join(dir, '..data_tmp'));
    renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    if (n === 1) {
      symlinkSync('..data/tls.crt', path.join(dir, 'tls.crt'));
      symlinkSync('..data/tls.key', path.join(dir, 'tls.key'));
    }
  };
  return { dir, publish };
}

function servedFingerprint(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerX509Certificate()!.fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

for (const workers of [0, 2]) {
  test(`--workers ${workers}: the default certificate comes from DEFAULT_CERTIFICATE_DIR and is reloaded when the Secret changes`, async (t) => {
    const [first, second] = await Promise.all([selfSignedCertificate(['default.test']), selfSignedCertificate(['default.test'])]);
    const secret = secretVolume();
    secret.publish(first);
    const file = writeTempFile('apiVersion: v1\nkind: Namespace\nmetadata: { name: empty }\n');
    const router = await startRouter({ args: ['--file', file, '--workers', String(workers)], env: { DEFAULT_CERTIFICATE_DIR: secret.dir } });
    t.teardown(() => router.stop());
    const fingerprint = (c: TestCertificate) => new X509Certificate(c.cert).fingerprint256;
    t.is(await servedFingerprint(router.https, 'unknown.test'), fingerprint(first));
    t.is(await servedFingerprint(router.https), fingerprint(first), 'no SNI: the same certificate');
    secret.publish(second);
    await router.waitForLog((l) => l.msg === 'default certificate reloaded');
    // Every worker: several fresh connections, with and without SNI.
    await eventually(async () => {
      for (let i = 0; i < 6; i++) {
        if (await servedFingerprint(router.https, i % 2 ? 'unknown.test' : undefined) !== fingerprint(second)) return false;
      }
      return true;
    }, 30_000); // a bound: the workers get the certificate over IPC
    t.pass();
  });
}

test('a bad update of the Secret (a key that does not match) keeps the current default certificate', async (t) => {
  const [good, other] = await Promise.all([selfSignedCertificate(['default.test']), selfSignedCertificate(['default.test'])]);
  const secret = secretVolume();
  secret.publish(good);
  const file = writeTempFile('apiVersion: v1\nkind: Namespace\nmetadata: { name: empty }\n');
  const router = await startRouter({ args: ['--file', file], env: { DEFAULT_CERTIFICATE_DIR: secret.dir } });
  t.teardown(() => router.stop());
  secret.publish({ ...good, key: other.key });
  const line = await router.waitForLog((l) => l.msg === 'default certificate not reloaded');
  t.regex(String(line.err), /does not match/);
  t.false(JSON.stringify(line).includes('PRIVATE KEY'), 'no key material in the log');
  t.is(await servedFingerprint(router.https, 'x.test'), new X509Certificate(good.cert).fingerprint256);
});

test('an empty DEFAULT_CERTIFICATE_DIR (optional Secret not created yet): a generated certificate until the files appear', async (t) => {
  const secret = secretVolume();
  const file = writeTempFile('apiVersion: v1\nkind: Namespace\nmetadata: { name: empty }\n');
  const router = await startRouter({ args: ['--file', file], env: { DEFAULT_CERTIFICATE_DIR: secret.dir } });
  t.teardown(() => router.stop());
  const cert = await selfSignedCertificate(['default.test']);
  t.not(await servedFingerprint(router.https, 'x.test'), new X509Certificate(cert.cert).fingerprint256);
  secret.publish(cert);
  await router.waitForLog((l) => l.msg === 'default certificate reloaded');
  t.is(await servedFingerprint(router.https, 'x.test'), new X509Certificate(cert.cert).fingerprint256);
});

test('HTTP/2 on SIGTERM: the session gets GOAWAY, its stream in flight completes, then the router exits', async (t) => {
  const backend = await startBackend('h2');
  t.teardown(() => backend.close());
  const cert = await selfSignedCertificate(['h2.test']);
  const file = writeTempFile([serviceYaml('h2', [backend.port]), routeYaml('h2', 'h2.test', 'h2', { spec: `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key })}` })].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  const session = http2.connect(`https://127.0.0.1:${router.https}`, { servername: 'h2.test', rejectUnauthorized: false });
  t.teardown(() => session.destroy());
  const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
  const stream = session.request({ ':path': '/?delay=1500', ':authority': 'h2.test' });
  const status = new Promise<number>((resolve, reject) => {
    stream.once('response', (headers) => resolve(Number(headers[':status'])));
    stream.once('error', reject);
  });
  stream.resume();
  await eventually(() => backend.requests.some((r) => r.url.includes('delay=1500')), 30_000); // a bound
  router.child.kill('SIGTERM');
  await goaway;
  t.is(await status, 200);
  await new Promise((resolve) => stream.once('close', resolve));
  t.is((await router.exited).code, 0);
});

test('stats credentials from files; a password with an empty username refuses to start (exit 2)', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-stats-'));
  writeFileSync(path.join(dir, 'username'), 'scraper\n');
  writeFileSync(path.join(dir, 'password'), 's3cret\n');
  writeFileSync(path.join(dir, 'empty'), '');
  const file = writeTempFile('apiVersion: v1\nkind: Namespace\nmetadata: { name: empty }\n');
  const router = await startRouter({ args: ['--file', file], env: { STATS_USERNAME_FILE: path.join(dir, 'username'), STATS_PASSWORD_FILE: path.join(dir, 'password') } });
  t.teardown(() => router.stop());
  t.is((await request(router.admin, { path: '/metrics' })).status, 401);
  const auth = `Basic ${Buffer.from('scraper:s3cret').toString('base64')}`;
  t.is((await request(router.admin, { path: '/metrics', headers: { authorization: auth } })).status, 200);
  t.is((await request(router.admin, { path: '/healthz' })).status, 200);

  const refused = await runCommand(process.execPath, [CLI, 'run', '--file', file, '--admin-port', '0', '--http-port', '0', '--https-port', '0', '--bind', '127.0.0.1'], {
    env: { ...process.env, STATS_USERNAME_FILE: path.join(dir, 'empty'), STATS_PASSWORD_FILE: path.join(dir, 'password') },
  });
  t.is(refused.status, 2);
  t.regex(refused.stderr, /stats password is set but the stats username is empty/);
  t.false(refused.stderr.includes('s3cret'), 'the password is never printed');
  const missing = await runCommand(process.execPath, [CLI, 'run', '--file', file], { env: { ...process.env, STATS_PASSWORD_FILE: path.join(dir, 'nope') } });
  t.is(missing.status, 2);
  t.regex(missing.stderr, /--stats-password-file: cannot read .*nope: ENOENT/);
});

test('--admin-socket serves readiness to the process itself on a Unix socket', async (t) => {
  const socketPath = path.join(mkdtempSync(path.join(tmpdir(), 'switchyard-admin-')), 'admin.sock');
  const file = writeTempFile('apiVersion: v1\nkind: Namespace\nmetadata: { name: empty }\n');
  const router = await startRouter({ args: ['--file', file, '--admin-socket', socketPath] });
  t.teardown(() => router.stop());
  const get = (p: string) => new Promise<number>((resolve, reject) => {
    http.get({ socketPath, path: p }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  });
  t.is(await get('/healthz/ready'), 200);
  t.is(await get('/healthz'), 200);
  const { code } = await router.stop();
  t.is(code, 0);
});
