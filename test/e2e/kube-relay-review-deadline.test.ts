// switchyard kube-relay bounds the whole wait before a cached read's headers, its token and
// access reviews included (src/relay/server.ts): a real relay process against the fake API
// server, whose reviews are held (an API server too starved to answer them). The read gets 429
// with Retry-After within the relay's bound (10 s) instead of waiting past a client's header
// timeout (a router's: 30 s); the held review is kept, so the retry, once it is answered, asks no
// TokenReview again and is served from the cache.

import test from 'ava';
import { Agent, fetch } from 'undici';
import { eventually } from '../support/http-client.ts';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { relayTls, startRelay } from '../support/relay-process.ts';

test('a review the API server is slow to answer: 429 with Retry-After within the relay\'s bound, then the retry joins it and is served', async (t) => {
  t.timeout(90_000);
  const api = await FakeApiServer.start();
  const tls = await relayTls();
  const relay = await startRelay({ kubeconfig: api.kubeconfigPath, tls });
  // A client that would give up on headers after 25 s: before the bound, the read waited for the review.
  const dispatcher = new Agent({ connect: { ca: tls.ca.cert }, headersTimeout: 25_000 });
  const list = async () => {
    const reply = await fetch(`${relay.server}/api/v1/namespaces/app/services`, { dispatcher, headers: { authorization: `Bearer ${api.token}` } });
    return { status: reply.status, retryAfter: reply.headers.get('retry-after'), body: await reply.json() as any };
  };
  try {
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's1', namespace: 'app' }, spec: { ports: [{ port: 80 }] } });
    let release!: () => void;
    api.reviewsHeld = new Promise<void>((resolve) => { release = resolve; });

    const held = await list();
    t.is(held.status, 429);
    t.is(held.retryAfter, '1');
    t.like(held.body, { kind: 'Status', reason: 'TooManyRequests', code: 429 });
    t.is(api.reviewCount, 1, 'the TokenReview, still unanswered');

    release();
    const served = await eventually(async () => { const r = await list(); return r.status === 200 ? r : undefined; }, 30_000, 200);
    t.is(served.body.kind, 'ServiceList');
    t.deepEqual(served.body.items.map((s: any) => s.metadata.name), ['s1']);
    t.is(api.reviewCount, 2, 'the held TokenReview answered the retry too; then one SubjectAccessReview');
  } finally {
    await dispatcher.close();
    await relay.stop();
    await api.close();
  }
});
