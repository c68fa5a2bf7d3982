import test from 'ava';
import type { Dispatcher } from 'undici';
import { EndpointRegistry } from '../../src/health/endpoint-registry.ts';
import type { EndpointState } from '../../src/health/endpoint-state.ts';

test('one state per id, shared by every acquirer, counted', (t) => {
  const registry = new EndpointRegistry();
  const a = registry.acquire({ id: 'e1', address: '10.0.0.1', port: 8080 });
  const b = registry.acquire({ id: 'e1', address: '10.0.0.1', port: 8080 });
  const c = registry.acquire({ id: 'e2', address: 'fd00::1', port: 443 });
  t.is(a, b);
  t.not(a, c);
  t.is(a.refs, 2);
  t.is(a.name, '10.0.0.1:8080');
  t.is(c.name, '[fd00::1]:443');
  t.is(registry.get('e1'), a);
  t.is(registry.size, 2);
  t.deepEqual([...registry.values()].map((s) => s.id), ['e1', 'e2']);
});

test('the last release removes the state, closes its pool and tells listeners', async (t) => {
  const registry = new EndpointRegistry();
  const removed: EndpointState[] = [];
  registry.on('remove', (state) => removed.push(state));
  const state = registry.acquire({ id: 'e1', address: '10.0.0.1', port: 8080 });
  registry.acquire({ id: 'e1', address: '10.0.0.1', port: 8080 });
  let closed = 0;
  state.pool = { close: async () => { closed++; } } as unknown as Dispatcher;
  registry.release(state);
  t.is(registry.get('e1'), state);
  t.deepEqual(removed, []);
  registry.release(state);
  t.is(registry.get('e1'), undefined);
  t.deepEqual(removed, [state]);
  t.is(closed, 1);
  t.true(state.pool === null);
  // releasing again is harmless
  registry.release(state);
  t.is(removed.length, 1);
  // a new acquire after removal gets a fresh state
  const again = registry.acquire({ id: 'e1', address: '10.0.0.1', port: 8080 });
  t.not(again, state);
  t.is(again.refs, 1);
  // a stale state with the same id does not release the new one
  registry.release(state);
  t.is(registry.get('e1'), again);
});

test('a pool that fails to close is ignored', async (t) => {
  const registry = new EndpointRegistry();
  const rejecting = registry.acquire({ id: 'r', address: '10.0.0.1', port: 1 });
  rejecting.pool = { close: () => Promise.reject(new Error('already closed')) } as unknown as Dispatcher;
  const throwing = registry.acquire({ id: 't', address: '10.0.0.1', port: 2 });
  throwing.pool = { close: () => { throw new Error('destroyed'); } } as unknown as Dispatcher;
  t.notThrows(() => registry.release(rejecting));
  t.notThrows(() => registry.release(throwing));
  await new Promise((resolve) => setImmediate(resolve)); // an unhandled rejection would fail the test run
  t.is(registry.size, 0);
});

test('bad input is a clear error, and one id cannot name two addresses', (t) => {
  const registry = new EndpointRegistry();
  t.throws(() => registry.acquire({ id: '', address: '10.0.0.1', port: 80 }), { message: /non-empty/ });
  t.throws(() => registry.acquire({ id: 'x', address: '10.0.0.1', port: 0 }), { message: /port 0/ });
  registry.acquire({ id: 'x', address: '10.0.0.1', port: 80 });
  t.throws(() => registry.acquire({ id: 'x', address: '10.0.0.2', port: 80 }), { message: /already used by 10\.0\.0\.1:80/ });
  t.is(registry.get('x')!.refs, 1);
});
