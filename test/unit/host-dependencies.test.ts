// The reverse index from Services, Pods and Secrets to the host entries that read them: one
// host per object is held without a set, more with one; both answer collect() alike.

import test from 'ava';
import { HostDependencyIndex } from '../../src/controller/host-dependencies.ts';
import { compactDeps, newDeps } from '../../src/controller/compile-endpoints.ts';

const deps = (services: string[], pods: string[] = []) => {
  const d = newDeps();
  for (const s of services) d.services.add(s);
  for (const p of pods) d.pods.add(p);
  return compactDeps(d);
};
const hosts = (index: HostDependencyIndex, kind: 'Service' | 'Pod' | 'Secret', key: string) => {
  const into = new Set<string>();
  index.collect(kind, key, into);
  return [...into].sort();
};

test('hosts of an object follow set() as hosts start and stop reading it', (t) => {
  const index = new HostDependencyIndex();
  index.set('a.com', deps(['ns/web']));
  t.deepEqual(hosts(index, 'Service', 'ns/web'), ['a.com']);
  index.set('b.com', deps(['ns/web', 'ns/api'], ['ns/p1']));
  index.set('c.com', deps(['ns/web']));
  t.deepEqual(hosts(index, 'Service', 'ns/web'), ['a.com', 'b.com', 'c.com']);
  t.deepEqual(hosts(index, 'Pod', 'ns/p1'), ['b.com']);
  index.set('b.com', deps(['ns/api']));
  index.set('a.com', null);
  t.deepEqual(hosts(index, 'Service', 'ns/web'), ['c.com']);
  t.deepEqual(hosts(index, 'Service', 'ns/api'), ['b.com']);
  t.deepEqual(hosts(index, 'Pod', 'ns/p1'), []);
  index.set('c.com', deps(['ns/web'])); // the same again
  t.deepEqual(hosts(index, 'Service', 'ns/web'), ['c.com']);
  index.set('c.com', null);
  t.deepEqual(hosts(index, 'Service', 'ns/web'), []);
  t.deepEqual(compactDeps(newDeps()).pods, [], 'no Pods: the shared empty list');
  t.true(Object.isFrozen(compactDeps(newDeps()).pods));
});
