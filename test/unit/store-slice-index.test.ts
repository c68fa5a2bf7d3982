// The store's EndpointSlice index (slices by Service) holds a Service's only slice as its key
// and switches to a set from the second slice on; both forms answer slicesOf the same way.

import test from 'ava';
import { ObjectStore } from '../../src/store.ts';
import { endpoint, slice } from '../fixtures/table/builders.ts';

const names = (store: ObjectStore, service: string) => [...store.slicesOf(service)].map((s) => s.metadata.name);

test('slicesOf follows slices added, relabelled and removed, one slice or many', (t) => {
  const store = new ObjectStore();
  t.deepEqual(names(store, 'ns/web'), []);
  store.upsert('EndpointSlice', slice('ns', 'web', [endpoint('10.0.0.1')], undefined, 'web-a'));
  t.deepEqual(names(store, 'ns/web'), ['web-a']);
  store.upsert('EndpointSlice', slice('ns', 'web', [endpoint('10.0.0.1')], undefined, 'web-a')); // same again
  t.deepEqual(names(store, 'ns/web'), ['web-a']);
  store.upsert('EndpointSlice', slice('ns', 'web', [endpoint('10.0.0.2')], undefined, 'web-b'));
  store.upsert('EndpointSlice', slice('ns', 'web', [endpoint('10.0.0.3')], undefined, 'web-c'));
  t.deepEqual(names(store, 'ns/web'), ['web-a', 'web-b', 'web-c']);
  store.remove('EndpointSlice', 'ns/web-a');
  store.remove('EndpointSlice', 'ns/web-b');
  t.deepEqual(names(store, 'ns/web'), ['web-c']);
  store.upsert('EndpointSlice', slice('ns', 'web', [endpoint('10.0.0.1')], undefined, 'web-a'));
  t.deepEqual(names(store, 'ns/web'), ['web-c', 'web-a']);
  // Relabelled to another Service: it leaves the first one's index.
  store.upsert('EndpointSlice', slice('ns', 'api', [endpoint('10.0.0.1')], undefined, 'web-c'));
  t.deepEqual(names(store, 'ns/web'), ['web-a']);
  t.deepEqual(names(store, 'ns/api'), ['web-c']);
  store.remove('EndpointSlice', 'ns/web-a');
  store.remove('EndpointSlice', 'ns/web-c');
  t.deepEqual(names(store, 'ns/web'), []);
  t.deepEqual(names(store, 'ns/api'), []);
});
