// An unpaged list read item by item as its text arrives (src/kube/json-list-decoder.ts): the
// items and the list's metadata come out the same wherever the chunks split the text, strings
// holding brackets, quotes and escapes included.

import test from 'ava';
import { JsonListDecoder } from '../../src/kube/json-list-decoder.ts';

const items = [
  { metadata: { name: 'r1', namespace: 'app', annotations: { 'a"b': 'x\\"}]{[', 'back\\': '\\\\' } }, spec: { host: 'r1.example.com', to: { kind: 'Service', name: 's1' } } },
  { metadata: { name: 'r2', namespace: 'app', managedFields: [{ apiVersion: 'v1', fieldsV1: { 'f:spec': {} } }, { apiVersion: 'v1' }] }, spec: { host: 'r2.example.com', port: { targetPort: 8080 } } },
  { metadata: { name: 'ü-€-😀', namespace: 'app' }, spec: { host: '[]{}', list: [[], [{}], 1, 'two', null, true] } },
];
// kube-apiserver's key order (sorted): items before metadata, so the resourceVersion comes last.
const text = JSON.stringify({ apiVersion: 'route.openshift.io/v1', items, kind: 'RouteList', metadata: { resourceVersion: '4242', continue: '' } });

function decode(chunks: string[]): { got: unknown[]; rest: ReturnType<JsonListDecoder['end']> } {
  const decoder = new JsonListDecoder();
  const got: unknown[] = [];
  for (const chunk of chunks) for (const item of decoder.push(chunk)) got.push(item);
  return { got, rest: decoder.end() };
}

test('the items and the metadata, wherever two chunks split the text', (t) => {
  for (let at = 0; at <= text.length; at++) {
    const { got, rest } = decode([text.slice(0, at), text.slice(at)]);
    t.deepEqual(got, items, `split at ${at}`);
    t.deepEqual(rest, { apiVersion: 'route.openshift.io/v1', items: [], kind: 'RouteList', metadata: { resourceVersion: '4242', continue: '' } });
  }
});

test('one character at a time, and white space between the tokens', (t) => {
  t.deepEqual(decode([...text]).got, items);
  const spaced = JSON.stringify({ kind: 'RouteList', metadata: { resourceVersion: '7' }, items }, null, 2);
  const { got, rest } = decode([...spaced]);
  t.deepEqual(got, items);
  t.is(rest.metadata?.resourceVersion, '7');
});

test('an empty list, and a list without items', (t) => {
  t.deepEqual(decode(['{"apiVersion":"v1","items":[],"kind":"ServiceList","metadata":{"resourceVersion":"3"}}']), { got: [], rest: { apiVersion: 'v1', items: [], kind: 'ServiceList', metadata: { resourceVersion: '3' } } });
  t.deepEqual(decode(['{"kind":"List","metadata":{"resourceVersion":"4"}}']).rest.metadata, { resourceVersion: '4' });
});

test('a list cut short or not JSON is an error, not a partial result', (t) => {
  t.throws(() => decode([text.slice(0, text.length - 20)]), { message: /before its JSON was complete/ });
  t.throws(() => decode(['{"items":[{"a":1,}]}']), { message: /item that is not JSON/ });
  t.throws(() => decode(['{"items":[]} x']), { message: /not JSON/ });
});
