// switchyard_http_requests_total keeps each route's counts as an array the proxy adds to
// (src/route-request-counter.ts); what it prints must be what prom-client's Counter prints.

import test from 'ava';
import { Counter, Registry } from 'prom-client';
import { RouteRequestCounter } from '../../src/route-request-counter.ts';

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const counter = new RouteRequestCounter({ name: 'x_requests_total', help: 'h', registers: [ours] });
  const reference = new Counter({ name: 'x_requests_total', help: 'h', labelNames: ['route', 'code_class'], registers: [theirs] });
  return { counter, reference, ours, theirs };
}

const sorted = (text: string) => text.split('\n').sort().join('\n');

test('the counts print as prom-client prints them, however they were added', async (t) => {
  const { counter, reference, ours, theirs } = pair();
  const series = counter.acquire('ns/a');
  series[1]! += 3; // 2xx
  series[4]!++; // 5xx
  reference.labels('ns/a', '2xx').inc(3);
  reference.labels('ns/a', '5xx').inc();
  counter.labels('', '4xx').inc();
  reference.labels('', '4xx').inc();
  counter.inc({ route: 'ns/b', code_class: '3xx' }, 2);
  reference.inc({ route: 'ns/b', code_class: '3xx' }, 2);
  counter.labels('ns/b', '6xx').inc(); // outside 1xx–5xx: prom-client's own structure
  reference.labels('ns/b', '6xx').inc();
  t.is(sorted(await ours.metrics()), sorted(await theirs.metrics()));
  t.deepEqual((await counter.get()).values.length, 5);
  t.throws(() => counter.labels('ns/a', '2xx').inc(-1), { message: /decrease/ });
});

test('a route left the table: its series go, and what another holder of the label adds still counts', async (t) => {
  const { counter, ours } = pair();
  const a = counter.acquire('ns/ing'); // two paths of one Ingress share the label
  const b = counter.acquire('ns/ing');
  t.is(a, b);
  a[1]! += 2;
  counter.release('ns/ing');
  t.false((await ours.metrics()).includes('route="ns/ing"'), 'its series removed, as prom-client remove() does');
  b[1]!++;
  t.true((await ours.metrics()).includes('x_requests_total{route="ns/ing",code_class="2xx"} 1'));
  counter.release('ns/ing');
  t.false((await ours.metrics()).includes('route="ns/ing"'));
  t.not(counter.acquire('ns/ing'), a, 'the last holder gone, the array goes');
});

test('remove() and reset() as prom-client', async (t) => {
  const { counter, ours } = pair();
  counter.labels('ns/a', '2xx').inc();
  counter.labels('ns/a', '5xx').inc();
  counter.remove('ns/a', '2xx');
  const text = await ours.metrics();
  t.false(text.includes('code_class="2xx"'));
  t.true(text.includes('x_requests_total{route="ns/a",code_class="5xx"} 1'));
  counter.reset();
  t.false((await ours.metrics()).includes('route="ns/a"'));
});
