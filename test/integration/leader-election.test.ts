// Lease leader election against the fake API server, with shortened timings, and the status
// controller that writes status only while leading.

import test from 'ava';
import { EventEmitter, once } from 'node:events';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.ts';
import { defaultConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { LeaderElector } from '../../src/status/leader-election.ts';
import { startStatusController } from '../../src/status/status-controller.ts';
import type { AdmissionResult } from '../../src/table/types.ts';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { ManualClock } from '../support/manual-clock.ts';

const TIMINGS = { leaseDurationMs: 1000, renewDeadlineMs: 700, retryPeriodMs: 100 };
const LEASE = { kind: 'Lease', namespace: 'kube', name: 'switchyard-test' };

/** Poll until `check` holds; the bound only turns a hang into a failure that says what it waited for. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`waited 30 s for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setUp(t: any) {
  const api = await FakeApiServer.start();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(api.kubeconfigPath);
  const client = new KubeClient(kubeConfig);
  const electors: LeaderElector[] = [];
  const elector = (identity: string, metrics?: Metrics, clock?: ManualClock) => {
    const e = new LeaderElector({ client, leaseName: LEASE.name, leaseNamespace: LEASE.namespace, logger: silentLogger, metrics, identity, clock, ...TIMINGS });
    electors.push(e);
    return e;
  };
  t.teardown(async () => {
    for (const e of electors) await e.stop({ release: false });
    await api.close();
  });
  return { api, client, elector };
}

/** Advance the clock by one retry period and wait until each of `electors` has finished its round. */
async function retryPeriod(clock: ManualClock, ...electors: LeaderElector[]): Promise<void> {
  const rounds = Promise.all(electors.map((e) => once(e, 'round')));
  clock.advance(TIMINGS.retryPeriodMs);
  await rounds;
}

test('one of two electors leads; the other takes over within a lease duration after the leader dies', async (t) => {
  const { api, elector } = await setUp(t);
  const clock = new ManualClock();
  const metricsA = new Metrics({ defaultMetrics: false });
  const a = elector('a', metricsA, clock);
  const b = elector('b', undefined, clock);
  const events: string[] = [];
  a.on('started-leading', () => events.push('a started'));
  a.on('stopped-leading', () => events.push('a stopped'));
  b.on('started-leading', () => events.push('b started'));
  const aLeads = once(a, 'started-leading');
  a.start();
  clock.advance(0);
  await aLeads;
  const bFirst = once(b, 'round');
  b.start();
  clock.advance(0);
  await bFirst;
  // Rounds over more than a lease duration: a keeps renewing, b (watching) sees each renewal and never leads.
  for (let elapsed = 0; elapsed <= TIMINGS.leaseDurationMs * 1.5; elapsed += TIMINGS.retryPeriodMs) {
    const seen = once(b, 'observed');
    await retryPeriod(clock, a, b);
    await seen;
  }
  t.true(a.isLeader);
  t.false(b.isLeader);
  t.is(api.get<any>(LEASE).spec.holderIdentity, 'a');
  t.is((await metricsA.leader.get()).values[0]?.value, 1);

  // a dies without releasing the lease.
  await a.stop({ release: false });
  const diedAt = clock.now();
  while (!b.isLeader) await retryPeriod(clock, b);
  const takeover = clock.now() - diedAt;
  t.true(takeover >= TIMINGS.leaseDurationMs, `took over after ${takeover} ms, before the lease ran out`);
  t.true(takeover <= TIMINGS.leaseDurationMs + 2 * TIMINGS.retryPeriodMs, `took over after ${takeover} ms`);
  const lease = api.get<any>(LEASE);
  t.is(lease.spec.holderIdentity, 'b');
  t.is(lease.spec.leaseTransitions, 1);
  t.deepEqual(events, ['a started', 'a stopped', 'b started']);
  t.is((await metricsA.leader.get()).values[0]?.value, 0);
});

test('releasing the lease on stop hands over at once', async (t) => {
  const { api, elector } = await setUp(t);
  const clock = new ManualClock();
  const a = elector('a', undefined, clock);
  const b = elector('b', undefined, clock);
  const aLeads = once(a, 'started-leading');
  a.start();
  clock.advance(0);
  await aLeads;
  const bFirst = once(b, 'round');
  b.start();
  clock.advance(0);
  await bFirst;
  await retryPeriod(clock, a, b);
  t.false(b.isLeader);
  await a.stop();
  const releasedAt = clock.now();
  t.is(api.get<any>(LEASE).spec.holderIdentity, '');
  while (!b.isLeader) await retryPeriod(clock, b);
  t.true(clock.now() - releasedAt < TIMINGS.leaseDurationMs, 'a released lease is taken before it would have expired');
});

test('the status controller writes status only while leading, and the new leader resumes', async (t) => {
  const { api, client } = await setUp(t);
  api.create({
    apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: 'a', name: 'web' },
    spec: { host: 'web.example.com', to: { kind: 'Service', name: 'web' } },
  });
  const ref = { kind: 'Route', namespace: 'a', name: 'web' };
  let results: AdmissionResult[] = [{ key: 'Route/a/web', kind: 'Route', namespace: 'a', name: 'web', host: 'web.example.com', wildcardPolicy: 'None', admitted: true }];
  const reconciler = Object.assign(new EventEmitter(), { admissionResults: () => results });
  const config = { ...defaultConfig(), routerName: 'edge', leaseName: LEASE.name, leaseNamespace: LEASE.namespace };
  // The elections run on a manual clock (rounds are events); the status writes are real requests.
  const clock = new ManualClock();
  const start = (identity: string) => startStatusController({ client, config, logger: silentLogger, reconciler, election: { identity, clock, ...TIMINGS } });
  const first = start('first');
  const second = start('second');
  t.teardown(async () => { await first.stop(); await second.stop(); });
  // Each elector tries as soon as its watch has read the Lease (absent): one creates it, the
  // other's create conflicts, or it sees the Lease held. Rounds run until one leads.
  const bothRead = Promise.all([once(first.elector!, 'observed'), once(second.elector!, 'observed')]);
  clock.advance(0);
  await bothRead;
  while (!first.elector!.isLeader && !second.elector!.isLeader) await retryPeriod(clock, first.elector!, second.elector!);
  t.not(first.elector!.isLeader, second.elector!.isLeader, 'exactly one leads');
  const entry = () => api.get<any>(ref)?.status?.ingress?.find((e: any) => e.routerName === 'edge');
  await until(() => entry()?.conditions?.[0]?.status === 'True', 'the leader to write Admitted=True');
  t.is(api.writes(ref), 1, 'only the leader wrote');
  const leader = first.elector!.isLeader ? first : second;
  const follower = leader === first ? second : first;

  // Incremental: an admission event flips the status.
  results = [{ ...results[0]!, admitted: false, reason: 'HostAlreadyClaimed', message: 'claimed' }];
  reconciler.emit('admission', results, []);
  await until(() => entry()?.conditions?.[0]?.status === 'False', 'the leader to write Admitted=False');
  t.is(api.writes(ref), 2);

  // The leader dies; the follower takes over and writes what changed meanwhile.
  await leader.elector!.stop({ release: false });
  await leader.stop();
  results = [{ ...results[0]!, admitted: true, reason: undefined, message: undefined }];
  while (!follower.elector!.isLeader) await retryPeriod(clock, follower.elector!);
  await until(() => entry()?.conditions?.[0]?.status === 'True', 'the new leader to write Admitted=True');
  // Forget via an admission event removes our entry.
  reconciler.emit('admission', [], [{ kind: 'Route', namespace: 'a', name: 'web' }]);
  await until(() => entry() === undefined, 'the new leader to remove its entry');
  t.pass();
});

test('the status controller does nothing when status updates are off', async (t) => {
  const { api, client } = await setUp(t);
  const reconciler = Object.assign(new EventEmitter(), { admissionResults: () => [] });
  const controller = startStatusController({ client, config: { ...defaultConfig(), updateStatus: false }, logger: silentLogger, reconciler });
  // No elector exists, so nothing can ever write a Lease (no need to wait and see).
  t.is(controller.elector, undefined);
  t.is(api.list('Lease').length, 0);
  await controller.stop();
});
