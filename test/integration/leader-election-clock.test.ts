// Leader election driven by a manual clock against a real HTTP Lease endpoint that can hold
// requests (issue 10): the renew deadline bounds the whole renew (a hanging PUT steps the leader
// down at lastRenew + renewDeadline), and a Lease acquired while stop() runs is released.
import test from 'ava';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.ts';
import { silentLogger } from '../../src/log.ts';
import { LeaderElector } from '../../src/status/leader-election.ts';
import { ManualClock } from '../support/manual-clock.ts';

const PATH = '/apis/coordination.k8s.io/v1/namespaces/kube/leases';

/**
 * One Lease, served as the API server does (list by name, watch, 404, create, optimistic PUT);
 * requests of a method can be held (watches are not: they are streams).
 */
async function leaseServer() {
  let lease: Record<string, any> | null = null;
  let rv = 1;
  const held = new Map<string, Array<() => void>>();
  const holding = new Set<string>();
  const arrived: string[] = [];
  const watches = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const method = req.method!;
      const url = new URL(req.url!, 'http://x');
      if (method === 'GET' && url.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        watches.add(res);
        res.once('close', () => watches.delete(res));
        return;
      }
      arrived.push(method);
      const answer = () => {
        const send = (status: number, value: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(value)); };
        if (method === 'GET' && url.pathname === PATH) return send(200, { kind: 'LeaseList', metadata: { resourceVersion: String(rv) }, items: lease ? [lease] : [] });
        if (method === 'GET') return lease ? send(200, lease) : send(404, { kind: 'Status', code: 404, reason: 'NotFound', message: 'not found' });
        const next = JSON.parse(body);
        if (method === 'PUT' && lease && next.metadata.resourceVersion !== lease.metadata.resourceVersion) return send(409, { kind: 'Status', code: 409, reason: 'Conflict', message: 'conflict' });
        const type = lease ? 'MODIFIED' : 'ADDED';
        lease = { ...next, metadata: { ...next.metadata, resourceVersion: String(++rv) } };
        send(method === 'POST' ? 201 : 200, lease);
        for (const watch of watches) watch.write(`${JSON.stringify({ type, object: lease })}\n`);
      };
      if (holding.has(method)) held.set(method, [...(held.get(method) ?? []), answer]);
      else answer();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
  });
  return {
    client: new KubeClient(kubeConfig),
    holder: () => (lease?.spec?.holderIdentity ?? null) as string | null,
    hold: (method: string) => holding.add(method),
    /** Let held requests of `method` through (and stop holding new ones). */
    release: (method: string) => { holding.delete(method); for (const answer of held.get(method) ?? []) answer(); held.delete(method); },
    waitForHeld: async (method: string) => { while ((held.get(method)?.length ?? 0) === 0) await new Promise((r) => setImmediate(r)); },
    arrived,
    close: () => { for (const watch of watches) watch.destroy(); server.closeAllConnections(); server.close(); },
  };
}

const TIMINGS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

test('a renew that hangs steps down at lastRenew + renewDeadline, before another pod may take over', async (t) => {
  const api = await leaseServer();
  t.teardown(api.close);
  const clock = new ManualClock();
  const a = new LeaderElector({ client: api.client, leaseName: 'l', leaseNamespace: 'kube', logger: silentLogger, identity: 'a', clock, ...TIMINGS });
  t.teardown(() => a.stop({ release: false }));
  const started = once(a, 'started-leading');
  a.start();
  clock.advance(0);
  await started;
  const renewedAt = clock.now();
  t.is(api.holder(), 'a');

  api.hold('PUT'); // the API server stops answering the renew
  clock.advance(TIMINGS.retryPeriodMs);
  await api.waitForHeld('PUT');
  const stopped = once(a, 'stopped-leading');
  // Not yet: just before the deadline it still leads.
  clock.advance(TIMINGS.renewDeadlineMs - TIMINGS.retryPeriodMs - 1);
  t.true(a.isLeader);
  clock.advance(1);
  await stopped;
  t.false(a.isLeader);
  t.is(clock.now() - renewedAt, TIMINGS.renewDeadlineMs);
  t.true(clock.now() - renewedAt < TIMINGS.leaseDurationMs);
  api.release('PUT');
});

test('a Lease acquired by a round still in flight when stop() is called is released', async (t) => {
  const api = await leaseServer();
  t.teardown(api.close);
  const clock = new ManualClock();
  const a = new LeaderElector({ client: api.client, leaseName: 'l', leaseNamespace: 'kube', logger: silentLogger, identity: 'a', clock, ...TIMINGS });
  api.hold('POST');
  a.start();
  clock.advance(0);
  await api.waitForHeld('POST'); // the create is on its way
  const stopping = a.stop();
  api.release('POST'); // … and succeeds after stop() began
  await stopping;
  t.is(api.holder(), '', 'released: a successor can take over at once');
  t.false(a.isLeader);
});

test('time is the clock\'s alone: a request the server holds longer than the renew deadline in real time still counts', async (t) => {
  // Before, each request also got a wall-clock timeout of (deadline - clock.now()): with a manual
  // clock that is the whole renew deadline in real milliseconds, so on a loaded machine a round
  // failed on its own and a test waiting for the next event (the clock never advanced) hung.
  const api = await leaseServer();
  t.teardown(api.close);
  const clock = new ManualClock();
  const a = new LeaderElector({ client: api.client, leaseName: 'l', leaseNamespace: 'kube', logger: silentLogger, identity: 'a', clock, leaseDurationMs: 150, renewDeadlineMs: 100, retryPeriodMs: 20 });
  t.teardown(() => a.stop({ release: false }));
  api.hold('POST');
  a.start();
  clock.advance(0);
  await api.waitForHeld('POST'); // the create is on its way
  let roundEnded = false;
  const round = once(a, 'round').then(() => { roundEnded = true; });
  // Real time well past the renew deadline (the clock stands still): it must not matter.
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.false(roundEnded, 'the round still waits for the server');
  api.release('POST');
  await round;
  t.true(a.isLeader);
  t.is(api.holder(), 'a');
});
