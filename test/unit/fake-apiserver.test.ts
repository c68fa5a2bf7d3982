import test from 'ava';
import { KubeConfig, ListWatch, Watch } from '@kubernetes/client-node';
import { FakeApiServer } from '../support/fake-apiserver.ts';

const ROUTES = '/apis/route.openshift.io/v1';

function route(ns: string, name: string, labels: Record<string, string> = {}) {
  return { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { namespace: ns, name, labels }, spec: { host: `${name}.example.com`, to: { kind: 'Service', name } } };
}

async function call(api: FakeApiServer, method: string, path: string, body?: unknown, contentType = 'application/json') {
  const res = await fetch(api.url + path, {
    method,
    headers: { authorization: `Bearer ${api.token}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() as any };
}

/**
 * Open a watch and collect events until `until` says stop, the server ends the stream cleanly
 * ('ended') or cuts it ('cut'), or 3 s pass ('bound': a bound on the wait, never expected).
 */
async function watchStream(api: FakeApiServer, path: string, until: (events: any[]) => boolean):
  Promise<{ events: any[]; endedBy: 'until' | 'ended' | 'cut' | 'bound' }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15_000);
  const events: any[] = [];
  let endedBy: 'until' | 'ended' | 'cut' | 'bound' = 'ended';
  try {
    const res = await fetch(api.url + path, { headers: { authorization: `Bearer ${api.token}` }, signal: controller.signal });
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body!) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        events.push(JSON.parse(buffered.slice(0, nl)));
        buffered = buffered.slice(nl + 1);
      }
      if (until(events)) { endedBy = 'until'; break; }
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError') endedBy = 'bound';
    else if ((err as Error).message === 'terminated') endedBy = 'cut';
    else throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { events, endedBy };
}

async function watchEvents(api: FakeApiServer, path: string, until: (events: any[]) => boolean): Promise<any[]> {
  return (await watchStream(api, path, until)).events;
}

/** Until the fake server has `n` watches open (bounded: fails the test after 15 s). */
async function watchesOpen(t: any, api: FakeApiServer, n: number): Promise<void> {
  for (let i = 0; i < 750 && api.openWatches() !== n; i++) await new Promise((r) => setTimeout(r, 20));
  t.is(api.openWatches(), n, 'watches open');
}

test('list returns a typed List with a resourceVersion; items get uid, creationTimestamp, resourceVersion', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  api.create(route('a', 'one'));
  api.create(route('b', 'two'));
  const all = await call(api, 'GET', `${ROUTES}/routes`);
  t.is(all.status, 200);
  t.is(all.body.kind, 'RouteList');
  t.regex(all.body.metadata.resourceVersion, /^\d+$/);
  t.deepEqual(all.body.items.map((i: any) => i.metadata.name), ['one', 'two']);
  const item = all.body.items[0];
  t.truthy(item.metadata.uid);
  t.regex(item.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const ns = await call(api, 'GET', `${ROUTES}/namespaces/b/routes`);
  t.deepEqual(ns.body.items.map((i: any) => i.metadata.name), ['two']);
  t.is(api.listRequests('Route'), 2);
  const missing = await call(api, 'GET', `${ROUTES}/namespaces/b/routes/nope`);
  t.is(missing.status, 404);
  t.is(missing.body.kind, 'Status');
  t.is(missing.body.reason, 'NotFound');
  const unauthorized = await fetch(`${api.url}${ROUTES}/routes`);
  t.is(unauthorized.status, 401);
});

test('label and field selectors filter lists', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  api.create(route('a', 'one', { shard: 'x', tier: 'web' }));
  api.create(route('a', 'two', { shard: 'y' }));
  api.create(route('b', 'three', {}));
  const names = async (query: string) =>
    (await call(api, 'GET', `${ROUTES}/routes?${query}`)).body.items.map((i: any) => i.metadata.name).sort();
  t.deepEqual(await names('labelSelector=shard%3Dx'), ['one']);
  t.deepEqual(await names('labelSelector=shard!%3Dx'), ['three', 'two']);
  t.deepEqual(await names('labelSelector=shard%20in%20(x%2Cy)'), ['one', 'two']);
  t.deepEqual(await names('labelSelector=shard%20notin%20(x)'), ['three', 'two']);
  t.deepEqual(await names('labelSelector=shard'), ['one', 'two']);
  t.deepEqual(await names('labelSelector=!shard'), ['three']);
  t.deepEqual(await names('labelSelector=shard%3Dx%2Ctier%3Dweb'), ['one']);
  t.deepEqual(await names('fieldSelector=metadata.name%3Dtwo'), ['two']);
  t.deepEqual(await names('fieldSelector=metadata.namespace%3Db'), ['three']);
  api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'a', name: 'tls' }, type: 'kubernetes.io/tls', data: {} });
  api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'a', name: 'opaque' }, type: 'Opaque', data: {} });
  const secrets = await call(api, 'GET', '/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Ftls');
  t.deepEqual(secrets.body.items.map((i: any) => i.metadata.name), ['tls']);
  const bad = await call(api, 'GET', `${ROUTES}/routes?labelSelector=${encodeURIComponent('a in (b')}`);
  t.is(bad.status, 400);
});

test('watch streams events after a resourceVersion, translated by selectors', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  api.create(route('a', 'before'));
  const rv = (await call(api, 'GET', `${ROUTES}/routes`)).body.metadata.resourceVersion;
  api.create(route('a', 'after', { shard: 'x' }));
  const pending = watchEvents(api, `${ROUTES}/routes?watch=true&resourceVersion=${rv}&labelSelector=shard%3Dx`, (e) => e.length >= 3);
  await watchesOpen(t, api, 1); // the updates below reach it live
  const current = api.get<any>({ kind: 'Route', namespace: 'a', name: 'after' });
  api.update({ ...current, metadata: { ...current.metadata, labels: { shard: 'y' } } }); // leaves the selector
  api.update({ ...current, metadata: { ...current.metadata, labels: { shard: 'x' } } }); // comes back
  const events = await pending;
  t.deepEqual(events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'after'], ['DELETED', 'after'], ['ADDED', 'after']]);
  t.is(api.watchRequests('routes'), 1);
});

test('a too-old resourceVersion gets an ERROR 410 event and the stream ends', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  api.create(route('a', 'one'));
  const rv = (await call(api, 'GET', `${ROUTES}/routes`)).body.metadata.resourceVersion;
  api.expireResourceVersions();
  const { events, endedBy } = await watchStream(api, `${ROUTES}/routes?watch=true&resourceVersion=${rv}`, () => false);
  t.is(endedBy, 'ended');
  t.is(events.length, 1);
  t.is(events[0].type, 'ERROR');
  t.is(events[0].object.code, 410);
  t.is(events[0].object.kind, 'Status');
  // A fresh list gives a resourceVersion that watches fine.
  const fresh = (await call(api, 'GET', `${ROUTES}/routes`)).body.metadata.resourceVersion;
  const pending = watchEvents(api, `${ROUTES}/routes?watch=true&resourceVersion=${fresh}`, (e) => e.length >= 1);
  await watchesOpen(t, api, 1); // the create below reaches it live
  api.create(route('a', 'two'));
  t.deepEqual((await pending).map((e) => e.type), ['ADDED']);
});

test('bookmarks are sent when asked for and stop while watches are stalled', async (t) => {
  const api = await FakeApiServer.start({ bookmarkIntervalMs: 50 });
  t.teardown(() => api.close());
  const rv = (await call(api, 'GET', `${ROUTES}/routes`)).body.metadata.resourceVersion;
  const events = await watchEvents(api, `${ROUTES}/routes?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`, (e) => e.length >= 2);
  // The 50 ms timer may put a third bookmark in the same read: the first two are what counts.
  t.deepEqual(events.slice(0, 2).map((e) => e.type), ['BOOKMARK', 'BOOKMARK']);
  t.regex(events[0].object.metadata.resourceVersion, /^\d+$/);
  await watchesOpen(t, api, 0); // the first watch is gone: the only one open below is the stalled one
  api.stallWatches(true);
  const stalled = watchEvents(api, `${ROUTES}/routes?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`, (e) => e.length >= 2);
  await watchesOpen(t, api, 1);
  // While stalled, neither a bookmark (asked for now, besides the 50 ms timer) nor the change
  // goes out; once released, the held change comes first and bookmarks resume after it. Had
  // the stalled stream sent (or queued) a bookmark, it would come first.
  api.sendBookmarks();
  api.create(route('a', 'held'));
  api.stallWatches(false);
  api.sendBookmarks();
  // The 50 ms timer resumes too, so more than one bookmark may follow the change in one read.
  t.deepEqual((await stalled).slice(0, 2).map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'held'], ['BOOKMARK', undefined]]);
});

test('timeoutSeconds ends the watch cleanly', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  const { events, endedBy } = await watchStream(api, `${ROUTES}/routes?watch=true&resourceVersion=1&timeoutSeconds=1`, () => false);
  t.deepEqual(events, []);
  t.is(endedBy, 'ended', 'the server ended the stream (not the 15 s bound of the client)');
});

test('PUT status changes only status and answers 409 on a stale resourceVersion', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  const created = api.create(route('a', 'one'));
  const path = `${ROUTES}/namespaces/a/routes/one/status`;
  const ok = await call(api, 'PUT', path, { ...created, spec: { host: 'changed.example.com' }, status: { ingress: [{ routerName: 'r' }] } });
  t.is(ok.status, 200);
  t.is(ok.body.spec.host, 'one.example.com');
  t.deepEqual(ok.body.status, { ingress: [{ routerName: 'r' }] });
  t.not(ok.body.metadata.resourceVersion, created.metadata.resourceVersion);
  const stale = await call(api, 'PUT', path, { ...created, status: { ingress: [] } });
  t.is(stale.status, 409);
  t.is(stale.body.reason, 'Conflict');
  t.is(api.writes({ kind: 'Route', namespace: 'a', name: 'one' }), 2);
  // PUT on the object itself keeps the stored status.
  const main = await call(api, 'PUT', `${ROUTES}/namespaces/a/routes/one`, { ...ok.body, spec: { ...ok.body.spec, path: '/x' }, status: {} });
  t.is(main.body.spec.path, '/x');
  t.deepEqual(main.body.status, { ingress: [{ routerName: 'r' }] });
  // A write that changes nothing keeps the resourceVersion.
  const same = await call(api, 'PUT', path, main.body);
  t.is(same.body.metadata.resourceVersion, main.body.metadata.resourceVersion);
});

test('PATCH: merge, strategic merge and JSON patch on Pod annotations and labels', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  api.create({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'a', name: 'p', labels: { app: 'x' }, annotations: { keep: '1', drop: '2' } }, spec: {} });
  const path = '/api/v1/namespaces/a/pods/p';
  const merged = await call(api, 'PATCH', path, { metadata: { annotations: { AUTO_PORT0: '20001', drop: null } } }, 'application/merge-patch+json');
  t.is(merged.status, 200);
  t.deepEqual(merged.body.metadata.annotations, { keep: '1', AUTO_PORT0: '20001' });
  const strategic = await call(api, 'PATCH', path, { metadata: { labels: { role: 'web' } } }, 'application/strategic-merge-patch+json');
  t.deepEqual(strategic.body.metadata.labels, { app: 'x', role: 'web' });
  const json = await call(api, 'PATCH', path, [
    { op: 'add', path: '/metadata/annotations/AUTO_PORT1', value: '20002' },
    { op: 'replace', path: '/metadata/labels/app', value: 'y' },
    { op: 'remove', path: '/metadata/annotations/keep' },
    { op: 'add', path: '/metadata/annotations/switchyard.io~1port', value: '1' },
  ], 'application/json-patch+json');
  t.is(json.status, 200);
  t.deepEqual(json.body.metadata.annotations, { AUTO_PORT0: '20001', AUTO_PORT1: '20002', 'switchyard.io/port': '1' });
  t.is(json.body.metadata.labels.app, 'y');
  const bad = await call(api, 'PATCH', path, [{ op: 'remove', path: '/metadata/nothing' }], 'application/json-patch+json');
  t.is(bad.status, 422);
  t.is(api.get<any>({ kind: 'Pod', namespace: 'a', name: 'p' }).metadata.annotations.AUTO_PORT1, '20002');
});

test('POST, DELETE and Lease updates with resourceVersion conflicts', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  const leases = '/apis/coordination.k8s.io/v1/namespaces/kube/leases';
  const created = await call(api, 'POST', leases, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { holderIdentity: 'a' } });
  t.is(created.status, 201);
  t.is(created.body.metadata.namespace, 'kube');
  t.is((await call(api, 'POST', leases, created.body)).status, 409);
  const updated = await call(api, 'PUT', `${leases}/l`, { ...created.body, spec: { holderIdentity: 'b' } });
  t.is(updated.status, 200);
  t.is(updated.body.spec.holderIdentity, 'b');
  const conflict = await call(api, 'PUT', `${leases}/l`, { ...created.body, spec: { holderIdentity: 'c' } });
  t.is(conflict.status, 409);
  t.is((await call(api, 'DELETE', `${leases}/l`)).status, 200);
  t.is((await call(api, 'GET', `${leases}/l`)).status, 404);
});

test('failLists answers the injected status the given number of times', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  api.failLists(429, 2);
  t.is((await call(api, 'GET', '/api/v1/services')).status, 429);
  t.is((await call(api, 'GET', '/api/v1/services')).status, 429);
  t.is((await call(api, 'GET', '/api/v1/services')).status, 200);
  t.is(api.listRequests('Service'), 3);
});

test('refuseConnections closes the port and reopens it on the same port', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  const port = api.port;
  const back = api.refuseConnections(300); // closes the port before it returns
  await t.throwsAsync(fetch(`${api.url}/api/v1/pods`, { headers: { authorization: `Bearer ${api.token}` } }));
  await back;
  t.is(api.port, port);
  t.is((await call(api, 'GET', '/api/v1/pods')).status, 200);
});

test('the real client library lists and watches through the kubeconfig', async (t) => {
  const api = await FakeApiServer.start();
  t.teardown(() => api.close());
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  api.create(route('a', 'one'));
  const listFn = async () => (await call(api, 'GET', `${ROUTES}/routes`)).body;
  const informer = new ListWatch<any>(`${ROUTES}/routes`, new Watch(kc), listFn, false);
  const seen: string[] = [];
  informer.on('add', (o) => seen.push(`add ${o.metadata.name}`));
  informer.on('delete', (o) => seen.push(`delete ${o.metadata.name}`));
  await informer.start();
  t.teardown(() => informer.stop());
  api.create(route('a', 'two'));
  api.delete({ kind: 'Route', namespace: 'a', name: 'one' });
  for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(seen, ['add one', 'add two', 'delete one']);
});
