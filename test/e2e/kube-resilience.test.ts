// End to end against the fake API server, when things go wrong: the status-writing leader is
// killed, the API server goes away, history is compacted (410 Gone) mid-watch, lists fail at
// start. Real router processes (dist/cli.js), real backends, real HTTP clients.
// (The happy paths — routes following events, status, a clean leader hand-over — are in
// kube-router.test.ts; sharding is in kube-sharding.test.ts.)

import test from 'ava';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { startBackend, type Backend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';
import { startRouter, type RouterProcess } from '../support/router-process.ts';
import { freePort } from '../support/ports.ts';

const LEASE = { kind: 'Lease', namespace: 'default', name: 'switchyard-resilience' };
const SHORT_LEASE = ['--lease-duration', '2s', '--lease-renew-deadline', '1500ms', '--lease-retry-period', '300ms'];
const LEASE_DURATION_MS = 2000;

function service(name: string) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec: { ports: [{ name: 'http', port: 80 }] } };
}

function slice(service: string, port: number) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: 'default', name: `${service}-slice`, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  };
}

function route(name: string, host: string, svc: string) {
  return { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: 'default', name }, spec: { host, to: { kind: 'Service', name: svc } } };
}

function routerArgs(name: string, extra: string[] = []): string[] {
  return ['--kubeconfig', api.kubeconfigPath, '--router-name', 'resilience', '--lease-name', LEASE.name,
    '--lease-namespace', LEASE.namespace, '--canonical-hostname', `${name}.apps.example.com`, '--watch-timeout', '30s', ...extra];
}

/** The backend name answering for a host, or `status <code>`, or `error <message>`. */
async function backendFor(router: RouterProcess, host: string): Promise<string> {
  try {
    const reply = await request(router.http, { host, path: '/', timeoutMs: 3000 });
    return reply.status === 200 ? String(reply.headers['x-backend']) : `status ${reply.status}`;
  } catch (err) {
    return `error ${(err as Error).message}`;
  }
}

function servedBy(router: RouterProcess, host: string, expected: string, timeoutMs = 5000): Promise<string> {
  return eventually(() => backendFor(router, host).then((x) => (x === expected ? x : '')), timeoutMs);
}

/** A metric's value summed over its label sets, from the admin port's /metrics. */
async function metric(router: RouterProcess, name: string): Promise<number> {
  const reply = await request(router.admin, { path: '/metrics' });
  let sum = 0;
  for (const line of reply.body.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function statusEntry(name: string): { routerCanonicalHostname?: string; conditions?: Array<Record<string, unknown>> } | undefined {
  return api.get<any>({ kind: 'Route', namespace: 'default', name })?.status?.ingress?.find((e: any) => e.routerName === 'resilience');
}

let api: FakeApiServer;
let a: Backend;
let b: Backend;

test.before(async () => {
  api = await FakeApiServer.start();
  a = await startBackend('a');
  b = await startBackend('b');
  api.create(service('web'));
  api.create(slice('web', a.port));
  api.create(service('other'));
  api.create(slice('other', b.port));
  api.create(route('web', 'web.example.com', 'web'));
  api.create(route('other', 'other.example.com', 'other'));
});

test.after.always(async () => {
  await api?.close();
  await Promise.all([a, b].map((x) => x?.close()));
});

test.serial('a SIGKILLed leader is replaced: the survivor takes the Lease and writes status', async (t) => {
  const first = await startRouter({ args: routerArgs('first', SHORT_LEASE) });
  t.teardown(() => first.stop());
  const second = await startRouter({ args: routerArgs('second', SHORT_LEASE) });
  t.teardown(() => second.stop());
  const routers = [first, second];

  // Exactly one leads, by its own metric and by the Lease.
  const leader = await eventually(async () => {
    const flags = await Promise.all(routers.map((r) => metric(r, 'switchyard_leader')));
    return flags[0]! + flags[1]! === 1 ? routers[flags.indexOf(1)] : undefined;
  }, 5000);
  const survivor = leader === first ? second : first;
  t.true(String(api.get<any>(LEASE)?.spec?.holderIdentity).endsWith(`-${leader!.child.pid}`));
  const leaderName = leader === first ? 'first' : 'second';
  const survivorName = leader === first ? 'second' : 'first';
  t.is((await eventually(() => (statusEntry('web')?.routerCanonicalHostname === `${leaderName}.apps.example.com` ? statusEntry('web') : undefined), 5000))?.routerCanonicalHostname,
    `${leaderName}.apps.example.com`);

  // A crash: no SIGTERM, so no release; the survivor must wait the lease out, then lead.
  leader!.child.kill('SIGKILL');
  await leader!.exited;
  api.create(route('after-crash', 'after-crash.example.com', 'web'));
  // How soon (one lease duration, give or take a retry period) is proven on a manual clock in
  // test/integration/leader-election.test.ts; here the wait is only bounded.
  const entry = await eventually(() => statusEntry('after-crash'), LEASE_DURATION_MS + 20_000);
  t.is(entry?.routerCanonicalHostname, `${survivorName}.apps.example.com`, 'the survivor wrote the new route\'s status');
  t.like(entry?.conditions?.[0], { type: 'Admitted', status: 'True' });
  t.true(String(api.get<any>(LEASE)?.spec?.holderIdentity).endsWith(`-${survivor.child.pid}`));
  t.is(await metric(survivor, 'switchyard_leader'), 1);
  // The survivor also rewrites the status the dead leader had written.
  t.truthy(await eventually(() => statusEntry('web')?.routerCanonicalHostname === `${survivorName}.apps.example.com`, 3000));
  t.is(await backendFor(survivor, 'after-crash.example.com'), 'a');
  api.delete({ kind: 'Route', namespace: 'default', name: 'after-crash' });
});

test.serial('an API server outage: every route keeps being served; afterwards changes flow again', async (t) => {
  const router = await startRouter({ args: routerArgs('outage') });
  t.teardown(() => router.stop());
  await servedBy(router, 'web.example.com', 'a');
  await servedBy(router, 'other.example.com', 'b');
  const restartsBefore = await metric(router, 'switchyard_watch_restarts_total');

  // The API server refuses connections until both routes have been polled ten times and the
  // router has seen its watches fail (its restart counter moved): an outage as long as the test
  // needs, not a guessed duration.
  let endOutage!: () => void;
  const outage = api.refuseConnections(new Promise<void>((resolve) => { endOutage = resolve; }));
  const seen: string[] = [];
  let restartsDuring = restartsBefore;
  const giveUp = Date.now() + 30_000; // a bound: fails the test below
  while ((seen.length < 20 || restartsDuring <= restartsBefore) && Date.now() < giveUp) {
    seen.push(await backendFor(router, 'web.example.com'), await backendFor(router, 'other.example.com'));
    restartsDuring = await metric(router, 'switchyard_watch_restarts_total');
    await new Promise((r) => setTimeout(r, 50)); // pacing of the polls
  }
  endOutage();
  await outage;
  t.true(seen.length >= 20, `polled ${seen.length / 2} times during the outage`);
  t.true(restartsDuring > restartsBefore, 'the router saw its watches fail during the outage');
  t.deepEqual([...new Set(seen)].sort(), ['a', 'b'], 'every request during the outage was served by its backend');

  // After the outage a change made at the API server reaches the table (informers restarted).
  api.create(route('after-outage', 'after-outage.example.com', 'other'));
  t.is(await servedBy(router, 'after-outage.example.com', 'b', 10_000), 'b');
  const current = api.get<any>({ kind: 'EndpointSlice', namespace: 'default', name: 'web-slice' });
  api.update({ ...current, ports: [{ name: 'http', port: b.port }] });
  t.is(await servedBy(router, 'web.example.com', 'b', 5000), 'b');
  t.true(await metric(router, 'switchyard_watch_restarts_total') > restartsBefore, 'switchyard_watch_restarts_total increased');

  // A dropped watch right after the outage: restarted (the backoff of the outage's failure streak
  // still applies — it resets after 30 s of healthy watching, as client-go's does), and a change
  // made meanwhile is served once it is back.
  api.dropWatches();
  api.update(slice('web', a.port));
  t.is(await servedBy(router, 'web.example.com', 'a', 12_000), 'a');
  api.delete({ kind: 'Route', namespace: 'default', name: 'after-outage' });
  t.is(await servedBy(router, 'after-outage.example.com', 'status 404', 12_000), 'status 404');
});

test.serial('410 Gone mid-watch: changes made around the compaction are all served', async (t) => {
  const router = await startRouter({ args: routerArgs('gone') });
  t.teardown(() => router.stop());
  await servedBy(router, 'web.example.com', 'a');
  api.create(route('doomed', 'doomed.example.com', 'web'));
  await servedBy(router, 'doomed.example.com', 'a');
  const listsBefore = api.stateRequests('Route');

  // Changes the open watches withhold (stalled), then the history is compacted: the streams end
  // with 410 and their withheld events are lost. Only a re-list can recover these changes.
  api.stallWatches(true);
  api.create(route('during', 'during.example.com', 'other'));
  api.delete({ kind: 'Route', namespace: 'default', name: 'doomed' });
  api.update(slice('web', b.port));
  api.expireResourceVersions({ notifyOpenWatches: true });
  api.stallWatches(false);
  // …and changes right after it, while the router is re-listing.
  api.create(route('after', 'after.example.com', 'web'));

  t.is(await servedBy(router, 'during.example.com', 'b', 8000), 'b');
  t.is(await servedBy(router, 'after.example.com', 'b', 8000), 'b');
  t.is(await servedBy(router, 'doomed.example.com', 'status 404', 8000), 'status 404');
  t.is(await backendFor(router, 'web.example.com'), 'b');
  t.is(await backendFor(router, 'other.example.com'), 'b');
  t.true(api.stateRequests('Route') > listsBefore, 'the Route informer read the state again after 410');

  // A second compaction with the streams open and live: events before it were delivered; one after it is too.
  api.update(slice('web', a.port));
  api.expireResourceVersions({ notifyOpenWatches: true });
  api.delete({ kind: 'Route', namespace: 'default', name: 'during' });
  t.is(await servedBy(router, 'web.example.com', 'a', 8000), 'a');
  t.is(await servedBy(router, 'during.example.com', 'status 404', 8000), 'status 404');
  api.delete({ kind: 'Route', namespace: 'default', name: 'after' });
});

test.serial('failing lists at start: not ready and no proxy port until the lists succeed (binding after the first sync is the default)', async (t) => {
  const [admin, http] = [await freePort(), await freePort()];
  api.failLists(500, 100_000); // until told otherwise
  const router = await startRouter({
    args: routerArgs('ready', ['--admin-port', String(admin), '--http-port', String(http)]),
    waitForListening: false,
  });
  t.teardown(() => { api.failLists(500, 0); return router.stop(); });
  const listsBefore = api.stateRequests('Route');

  // The admin port comes up and answers 503 while every list fails; the HTTP port stays closed.
  // (The bound is for a loaded machine: the router process must start first.)
  const firstAnswer = await eventually(() => request(admin, { path: '/healthz/ready', timeoutMs: 1000 }).catch(() => undefined), 30_000);
  t.is(firstAnswer?.status, 503);
  t.regex(firstAnswer!.body, /not ready: waiting for the first sync/);
  // Sample readiness and the proxy port for as long as it takes the router to fail three more
  // Route lists (retries are the events that count here, not the time they take).
  const answers: number[] = [];
  const portErrors: string[] = [];
  const retried = api.stateRequests('Route') + 3;
  const giveUp = Date.now() + 20_000; // a bound: fails the test
  while (api.stateRequests('Route') < retried && Date.now() < giveUp) {
    answers.push((await request(admin, { path: '/healthz/ready' })).status);
    portErrors.push(await request(http, { host: 'web.example.com' }).then((r) => `status ${r.status}`, (err: NodeJS.ErrnoException) => String(err.code)));
    await new Promise((r) => setTimeout(r, 50)); // pacing of the samples
  }
  t.true(api.stateRequests('Route') >= retried, 'the failed list was retried');
  t.deepEqual([...new Set(answers)], [503]);
  t.deepEqual([...new Set(portErrors)], ['ECONNREFUSED']);
  t.true(api.stateRequests('Route') > listsBefore + 1);
  t.is(router.logs.find((l) => l.msg === 'listening'), undefined);

  // Lists succeed: ready, and the proxy port opens (announced in the listening line) and serves.
  api.failLists(500, 0);
  // The next list comes after the informer's backoff, which doubled with every failure above
  // (capped at 30 s: a slow start-up on a loaded machine meant more failures before the sampling
  // began); the bound is above that cap.
  const listening = await router.waitForLog((l) => l.msg === 'listening', 75_000);
  t.is(listening.http, http);
  t.is((await request(admin, { path: '/healthz/ready' })).status, 200);
  t.is((await request(http, { host: 'web.example.com' })).headers['x-backend'], 'a');
});

test.serial('inconsistent lease timings are a startup error: exit 2 naming the options', async (t) => {
  const start = (extra: string[]) => startRouter({ args: routerArgs('bad', extra), waitForListening: false });
  const [deadline, retry] = await Promise.all([
    start(['--lease-duration', '1s', '--lease-renew-deadline', '2s']),
    start(['--lease-renew-deadline', '1s', '--lease-retry-period', '1s']),
  ]);
  t.teardown(() => Promise.all([deadline.stop(), retry.stop()]));
  t.is((await deadline.exited).code, 2);
  t.regex(deadline.stderr(), /--lease-renew-deadline \(2000ms\) must be less than --lease-duration \(1000ms\)/);
  t.is((await retry.exited).code, 2);
  t.regex(retry.stderr(), /--lease-retry-period \(1000ms\) must be less than --lease-renew-deadline \(1000ms\)/);
  t.is(api.get<any>(LEASE)?.spec?.holderIdentity ?? '', '', 'neither took the Lease');
});
