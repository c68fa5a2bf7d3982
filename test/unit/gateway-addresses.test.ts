import test from 'ava';
import { AddressPool, AddressPoolError } from '../../src/gateway/address-pool.ts';
import { GatewayAddresses } from '../../src/gateway/gateway-addresses.ts';
import type { Gateway } from '../../src/objects/gateway-types.ts';
import { hostnameSpecificity, listenerHostMatches, selectListener } from '../../src/table/listener-selection.ts';

function gw(name: string, created: string, addresses?: Gateway['spec']['addresses'], status?: string): Gateway {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
    metadata: { name, namespace: 'infra', creationTimestamp: created },
    spec: { gatewayClassName: 'c', listeners: [], ...(addresses ? { addresses } : {}) },
    ...(status ? { status: { addresses: [{ type: 'IPAddress', value: status }] } } : {}),
  } as Gateway;
}

test('pool: single addresses, CIDR blocks and ranges; membership and order; bad items refused', (t) => {
  const pool = new AddressPool(['192.0.2.8/30', '192.0.2.20-192.0.2.21', '2001:db8::1']);
  t.deepEqual([...pool.addresses()], ['192.0.2.8', '192.0.2.9', '192.0.2.10', '192.0.2.11', '192.0.2.20', '192.0.2.21', '2001:db8::1']);
  t.true(pool.has('192.0.2.11'));
  t.false(pool.has('192.0.2.12'));
  t.true(pool.has('2001:DB8::1'));
  t.throws(() => new AddressPool(['192.0.2.9-192.0.2.1']), { instanceOf: AddressPoolError });
  t.throws(() => new AddressPool(['gw.example.com']), { instanceOf: AddressPoolError });
  t.throws(() => new AddressPool(['192.0.2.0/33']), { instanceOf: AddressPoolError });
});

test('assignment: oldest first, stable while a Gateway exists, an older Gateway keeps its address when a newer one asks for it', (t) => {
  const addresses = new GatewayAddresses(new AddressPool(['192.0.2.1-192.0.2.3']));
  const a = gw('a', '2024-01-01T00:00:00Z');
  const b = gw('b', '2024-01-02T00:00:00Z');
  let result = addresses.assign([b, a]);
  t.deepEqual(result.get('infra/a'), { ok: true, addresses: ['192.0.2.1'] });
  t.deepEqual(result.get('infra/b'), { ok: true, addresses: ['192.0.2.2'] });
  // a goes away: b keeps .2; a new Gateway takes the freed .1.
  const c = gw('c', '2024-01-03T00:00:00Z');
  result = addresses.assign([b, c]);
  t.deepEqual(result.get('infra/b'), { ok: true, addresses: ['192.0.2.2'] });
  t.deepEqual(result.get('infra/c'), { ok: true, addresses: ['192.0.2.1'] });
  // d asks for b's address by value: addresses asked for by value are not movable, b moves.
  const d = gw('d', '2024-01-04T00:00:00Z', [{ type: 'IPAddress', value: '192.0.2.2' }]);
  result = addresses.assign([b, c, d]);
  t.deepEqual(result.get('infra/d'), { ok: true, addresses: ['192.0.2.2'] });
  t.deepEqual(result.get('infra/b'), { ok: true, addresses: ['192.0.2.3'] });
  // Full: a fourth Gateway gets nothing.
  const e = gw('e', '2024-01-05T00:00:00Z');
  t.like(addresses.assign([b, c, d, e]).get('infra/e'), { ok: false, accepted: true, reason: 'AddressNotAssigned' });
});

test('assignment: after a restart a Gateway gets back the address its status shows', (t) => {
  const addresses = new GatewayAddresses(new AddressPool(['192.0.2.1-192.0.2.3']));
  const result = addresses.assign([gw('a', '2024-01-01T00:00:00Z', undefined, '192.0.2.3'), gw('b', '2024-01-02T00:00:00Z')]);
  t.deepEqual(result.get('infra/a'), { ok: true, addresses: ['192.0.2.3'] });
  t.deepEqual(result.get('infra/b'), { ok: true, addresses: ['192.0.2.1'] });
});

test('spec.addresses: outside the pool or taken is AddressNotUsable; another type UnsupportedAddress; no value takes any', (t) => {
  const addresses = new GatewayAddresses(new AddressPool(['192.0.2.1-192.0.2.2']));
  const result = addresses.assign([
    gw('a', '2024-01-01T00:00:00Z', [{ type: 'IPAddress', value: '192.0.2.2' }]),
    gw('b', '2024-01-02T00:00:00Z', [{ type: 'IPAddress', value: '192.0.2.2' }]),
    gw('c', '2024-01-03T00:00:00Z', [{ value: '198.51.100.1' }]),
    gw('d', '2024-01-04T00:00:00Z', [{ type: 'Hostname', value: 'gw.example.com' }]),
    gw('e', '2024-01-05T00:00:00Z', [{ type: 'IPAddress' }]),
  ]);
  t.deepEqual(result.get('infra/a'), { ok: true, addresses: ['192.0.2.2'] });
  t.like(result.get('infra/b'), { ok: false, accepted: true, reason: 'AddressNotUsable', message: 'address 192.0.2.2 is used by another Gateway' });
  t.like(result.get('infra/c'), { ok: false, accepted: true, reason: 'AddressNotUsable' });
  t.like(result.get('infra/d'), { ok: false, accepted: false, reason: 'UnsupportedAddress' });
  t.deepEqual(result.get('infra/e'), { ok: true, addresses: ['192.0.2.1'] });
});

test('listener selection: exact, then the longest wildcard (any depth), then no hostname', (t) => {
  const listeners = [
    { key: 'any', hostname: '', certificate: null },
    { key: 'wild', hostname: '*.example.com', certificate: null },
    { key: 'deep', hostname: '*.foo.example.com', certificate: null },
    { key: 'exact', hostname: 'bar.foo.example.com', certificate: null },
  ].sort((a, b) => hostnameSpecificity(b.hostname) - hostnameSpecificity(a.hostname));
  t.deepEqual(listeners.map((l) => l.key), ['exact', 'deep', 'wild', 'any']);
  t.is(selectListener(listeners, 'bar.foo.example.com')?.key, 'exact');
  t.is(selectListener(listeners, 'x.y.foo.example.com')?.key, 'deep');
  t.is(selectListener(listeners, 'foo.example.com')?.key, 'wild');
  t.is(selectListener(listeners, 'example.com')?.key, 'any', 'a wildcard does not match its own domain');
  t.is(selectListener(listeners.slice(0, 3), 'other.test'), null);
  t.false(listenerHostMatches('*.example.com', 'badexample.com'));
});
