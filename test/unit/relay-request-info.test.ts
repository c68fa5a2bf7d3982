// Which requests switchyard kube-relay answers from its cache (src/relay/request-info.ts): GETs of
// a cached collection with a bearer token and nothing that changes who asks or what is answered;
// everything else is passed on to the API server.

import test from 'ava';
import { cachedRead, isCollectionRead } from '../../src/relay/request-info.ts';

const CACHED = new Set(['/api/v1/secrets', '/api/v1/namespaces', '/apis/route.openshift.io/v1/routes']);
const token = { authorization: 'Bearer abc.def' };

test('a list or watch of a cached collection, namespaced or cluster-wide, is a cached read with its RBAC attributes', (t) => {
  t.like(cachedRead('GET', '/api/v1/namespaces/app/secrets?fieldSelector=metadata.name%3Dcert%2Ctype%3Dkubernetes.io%2Ftls&watch=true&allowWatchBookmarks=true&resourceVersion=42', token, CACHED), {
    verb: 'watch', group: '', version: 'v1', resource: 'secrets', namespace: 'app', name: 'cert', path: '/api/v1/namespaces/app/secrets',
    resourceVersion: '42', allowWatchBookmarks: true, sendInitialEvents: false, token: 'abc.def',
  });
  t.like(cachedRead('GET', '/apis/route.openshift.io/v1/routes?labelSelector=shard%3Dx&limit=5000', token, CACHED), {
    verb: 'list', group: 'route.openshift.io', resource: 'routes', namespace: undefined, name: undefined, labelSelector: 'shard=x',
  });
  t.like(cachedRead('GET', '/api/v1/namespaces?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan', token, CACHED), {
    verb: 'watch', resource: 'namespaces', namespace: undefined, sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan',
  });
  // The router's Accept headers: protobuf or CBOR, JSON accepted too.
  for (const accept of ['application/vnd.kubernetes.protobuf, application/json', 'application/cbor, application/json', '*/*']) {
    t.truthy(cachedRead('GET', '/api/v1/secrets', { ...token, accept }, CACHED), accept);
  }
});

test('anything else is passed on', (t) => {
  const passedOn: Array<[string, string, Record<string, string>]> = [
    ['GET', '/api/v1/namespaces/app/secrets/cert', token], // one object
    ['GET', '/api/v1/namespaces/app', token], // one namespace
    ['GET', '/api/v1/namespaces/app/services', token], // not cached
    ['GET', '/apis/route.openshift.io/v1/namespaces/app/routes/r/status', token], // a subresource
    ['PATCH', '/apis/route.openshift.io/v1/namespaces/app/routes', token],
    ['GET', '/api/v1/secrets?continue=abc', token],
    ['GET', '/api/v1/secrets?resourceVersion=5&resourceVersionMatch=Exact', token],
    ['GET', '/api/v1/secrets?pretty=true', token],
    ['GET', '/api/v1/secrets', { ...token, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' }],
    // kubectl get: a Table first, plain JSON as a fallback: passed on, so that it gets its Table.
    ['GET', '/api/v1/secrets', { ...token, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json' }],
    ['GET', '/api/v1/secrets', { ...token, accept: 'application/json;q=0' }],
    ['GET', '/api/v1/secrets', { ...token, accept: 'application/vnd.kubernetes.protobuf' }],
    ['GET', '/api/v1/secrets', { ...token, 'impersonate-user': 'admin' }],
    ['GET', '/api/v1/secrets', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['GET', '/api/v1/secrets', {}],
    ['GET', '/api/v1/watch/secrets', token],
    ['GET', '/api/v1//secrets', token],
  ];
  for (const [method, url, headers] of passedOn) t.is(cachedRead(method, url, headers, CACHED), undefined, `${method} ${url} ${JSON.stringify(headers)}`);
  // A cached collection without credentials is refused by the relay itself (never served, never passed on).
  t.true(isCollectionRead('GET', '/api/v1/namespaces/app/secrets', CACHED));
  t.false(isCollectionRead('GET', '/api/v1/namespaces/app/secrets/cert', CACHED));
  t.false(isCollectionRead('GET', '/apis/coordination.k8s.io/v1/namespaces/switchyard/leases', CACHED));
});
