// examples/plugins/header-canary.ts: endpoint selection by header.
import test from 'ava';
import { testPlugin } from 'switchyard';
import canary from '../../examples/plugins/header-canary.ts';

const endpoints = [{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 80 }, { address: '10.0.0.9', port: 80 }];

test('with the header: a canary endpoint; without: never one', async (t) => {
  const h = testPlugin(canary, { endpoints: ['10.0.0.9:80'] }, { endpoints });
  const stable = new Set<string>();
  for (let i = 0; i < 6; i++) {
    stable.add((await h.request()).endpoint!.endpoint.name);
    t.is((await h.request({ headers: { 'x-canary': 'yes' } })).endpoint!.endpoint.name, '10.0.0.9:80');
  }
  t.deepEqual([...stable].sort(), ['10.0.0.1:80', '10.0.0.2:80']);
});

test('a configured value must match; an unavailable canary leaves the choice to the balancer', async (t) => {
  const h = testPlugin(canary, { header: 'X-Track', value: 'beta', endpoints: ['10.0.0.9:80'] }, { endpoints });
  t.not((await h.request({ headers: { 'x-track': 'alpha' } })).endpoint!.endpoint.name, '10.0.0.9:80');
  t.is((await h.request({ headers: { 'x-track': 'beta' } })).endpoint!.endpoint.name, '10.0.0.9:80');
  h.setEndpointUp('10.0.0.9:80', false);
  t.is((await h.request({ headers: { 'x-track': 'beta' } })).endpoint, null);
});
