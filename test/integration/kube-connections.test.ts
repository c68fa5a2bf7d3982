// The API client's connections to a server without HTTP/2 (the fake API server, plain HTTP/1.1),
// counted by a TCP proxy: requests one after another reuse one keep-alive connection; requests at
// the same time get one each, and afterwards four idle ones are kept; a watch holds one for as
// long as it is open.

import test from 'ava';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.ts';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { eventually } from '../support/http-client.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

test('HTTP/1.1: one keep-alive connection for sequential requests, one per concurrent request, four idle kept, one per open watch', async (t) => {
  const api = await FakeApiServer.start();
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: api.port });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${proxy.port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: api.token }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
  });
  const client = new KubeClient(kubeConfig);
  t.teardown(async () => { await client.close(); await proxy.close(); await api.close(); });
  for (let i = 0; i < 20; i++) await client.request({ method: 'GET', path: '/api/v1/services' });
  t.is(proxy.connections(), 1);
  // Six at once: the idle one and five new; when they are done, four stay for reuse.
  await Promise.all(Array.from({ length: 6 }, () => client.request({ method: 'GET', path: '/api/v1/services' })));
  t.is(proxy.connections(), 6);
  t.true(await eventually(() => proxy.open() === 4, 5000, 10), `idle connections kept: ${proxy.open()}`);
  // Watches each hold a connection (the idle ones first); a closed watch's connection is closed.
  const watches = await Promise.all(Array.from({ length: 5 }, () => client.stream('/api/v1/services', { watch: 'true' })));
  t.is(proxy.connections(), 7);
  t.is(proxy.open(), 5);
  for (const watch of watches) watch.close();
  t.true(await eventually(() => proxy.open() === 0, 5000, 10), `open after the watches: ${proxy.open()}`);
  await client.request({ method: 'GET', path: '/api/v1/services' });
  t.is(proxy.open(), 1);
});
