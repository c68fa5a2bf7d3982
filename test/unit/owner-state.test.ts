// The reconciler keeps one OwnerState per Route and Ingress for as long as it exists: its host
// claims are a plain array without repeats, and owners without a wildcard share one empty set.

import test from 'ava';
import { parseLabelSelector } from '../../src/admission/label-selector.ts';
import type { AdmissionContext } from '../../src/admission/types.ts';
import { CandidateVerdicts, evaluateOwner, hostKeysOf } from '../../src/controller/owner-state.ts';
import { ObjectStore } from '../../src/store.ts';
import { config, ingressClass, route, simpleIngress } from '../fixtures/table/builders.ts';

function context(store = new ObjectStore()): AdmissionContext {
  const cfg = config({ allowWildcardRoutes: true });
  return { config: cfg, store, routeSelector: parseLabelSelector(cfg.routeLabels), namespaceSelector: parseLabelSelector(cfg.namespaceLabels) };
}

test('claims: one host key per claimed host, no repeats; wildcard groups only for wildcard claims', (t) => {
  const a = evaluateOwner('Route', route('ns', 'a', { host: 'a.example.com' }), context());
  const b = evaluateOwner('Route', route('ns', 'b', { host: 'b.example.com' }), context());
  t.deepEqual(hostKeysOf(a), ['a.example.com']);
  t.is(a.claimedHosts, 'a.example.com', 'one claim: the key itself, no array');
  t.is(a.wildcardGroups.size, 0);
  t.is(a.wildcardGroups, b.wildcardGroups, 'owners without a wildcard share one empty set');
  const w = evaluateOwner('Route', route('ns', 'w', { host: 'www.wild.example.com', wildcardPolicy: 'Subdomain' }), context());
  t.deepEqual(hostKeysOf(w), ['*.wild.example.com']);
  t.is(w.wildcardGroups.size, 1);
  t.is(a.wildcardGroups.size, 0, 'the shared empty set stayed empty');
  const store = new ObjectStore();
  store.upsert('IngressClass', ingressClass('switchyard', 'switchyard.io/ingress-controller'));
  const ing = evaluateOwner('Ingress', simpleIngress('ns', 'i', [{ host: 'x.example.com', path: '/a' }, { host: 'x.example.com', path: '/b' }, { host: 'y.example.com' }]), context(store));
  t.deepEqual([...hostKeysOf(ing)].sort(), ['x.example.com', 'y.example.com']);
});

test('candidate verdicts: the first held inline, more in a map; set replaces, clear forgets', (t) => {
  const verdicts = new CandidateVerdicts();
  const no = { admitted: false as const, reason: 'HostAlreadyClaimed', message: 'm' };
  t.is(verdicts.get('a'), undefined);
  verdicts.set('a', { admitted: true });
  verdicts.set('b', no);
  verdicts.set('c', { admitted: true });
  t.deepEqual(verdicts.get('a'), { admitted: true });
  t.is(verdicts.get('b'), no);
  verdicts.set('a', no);
  verdicts.set('c', no);
  t.is(verdicts.get('a'), no);
  t.is(verdicts.get('c'), no);
  t.is(verdicts.get('d'), undefined);
  verdicts.clear();
  t.is(verdicts.get('a'), undefined);
  t.is(verdicts.get('b'), undefined);
  verdicts.set('b', { admitted: true });
  t.deepEqual(verdicts.get('b'), { admitted: true });
  // Through evaluateOwner: every Ingress path has its verdict.
  const store = new ObjectStore();
  store.upsert('IngressClass', ingressClass('switchyard', 'switchyard.io/ingress-controller'));
  const ing = evaluateOwner('Ingress', simpleIngress('ns', 'i', [{ host: 'x.example.com', path: '/a' }, { host: 'y.example.com', path: '/b' }, { host: 'bad_host' }]), context(store));
  t.is(ing.candidates.length, 3);
  for (const c of ing.candidates) t.not(ing.pre.get(c.key), undefined);
  t.false(ing.pre.get(ing.candidates[2]!.key)!.admitted);
});
