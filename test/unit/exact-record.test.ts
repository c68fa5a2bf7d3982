// Narrowed objects are made by one literal per field list (src/objects/exact-record.ts): the
// object is the plain object the fields describe, whatever the names, and nothing else.

import test from 'ava';
import { exactRecord } from '../../src/objects/exact-record.ts';

test('an exact record has the given fields, in order, as a plain object', (t) => {
  const made = exactRecord(['name', 'namespace', 'labels'], ['web', 'shop', { app: 'x' }]);
  t.deepEqual(made, { name: 'web', namespace: 'shop', labels: { app: 'x' } });
  t.deepEqual(Object.keys(made), ['name', 'namespace', 'labels']);
  t.is(Object.getPrototypeOf(made), Object.prototype);
  t.not(exactRecord(['name'], ['a']), exactRecord(['name'], ['a']), 'a new object each time');
  t.deepEqual(exactRecord([], []), {});
});

test('field names are data, never code; __proto__ is an own field, not the prototype', (t) => {
  const odd = ['a"b', "c'd", 'e\\f', 'g\nh', '}; throw 1; ({', '\u2028', '0', 'constructor'];
  const made = exactRecord(odd, odd.map((_, i) => i));
  t.deepEqual(Object.keys(made).sort(), [...odd].sort());
  odd.forEach((k, i) => t.is(made[k], i));
  const proto = exactRecord(['__proto__', 'x'], [{ polluted: true }, 1]);
  t.is(Object.getPrototypeOf(proto), Object.prototype);
  t.true(Object.hasOwn(proto, '__proto__'));
  t.is((proto as { polluted?: boolean }).polluted, undefined);
});
