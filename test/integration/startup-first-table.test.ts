// Start-up: the first table is built once, from the synced store. A source whose initial load
// arrives in several batches (a Route first, its Service and EndpointSlice in later ones, as
// Kubernetes lists of different kinds do) must not make the router compile the host for each
// batch: at readiness the host is served with its endpoints, and the table was updated once.
// After readiness, changes are applied incrementally as before.
import test from 'ava';
import { createRouter, type Source, type SourceSink } from 'switchyard';
import { startBackend } from '../support/backends.ts';
import { eventually, request } from '../support/http-client.ts';

const ns = 'demo';

function service(name: string): unknown {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ports: [{ name: 'http', port: 80 }] } };
}

function slice(name: string, service: string, port: number): unknown {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service } },
    ports: [{ name: 'http', port }], endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  };
}

function route(name: string, host: string, service: string): unknown {
  return { apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name, namespace: ns }, spec: { host, to: { kind: 'Service', name: service } } };
}

/** Delivers each group of objects as its own store batch, a tick apart, then says it is loaded. */
class BatchedSource implements Source {
  readonly name = 'batched';
  #batches: unknown[][];
  sink: SourceSink | null = null;
  batchesDelivered = 0;
  constructor(batches: unknown[][]) {
    this.#batches = batches;
  }
  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    for (const batch of this.#batches) {
      for (const object of batch) {
        const result = sink.apply(object);
        if (!result.ok) throw new Error(result.error);
      }
      sink.flush();
      this.batchesDelivered++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  stop(): void {
    this.sink = null;
  }
}

async function tableUpdates(router: ReturnType<typeof createRouter>): Promise<number> {
  const text = await router.metrics.registry.getSingleMetricAsString('switchyard_table_updates_total');
  const line = text.split('\n').find((l) => l.startsWith('switchyard_table_updates_total '));
  return Number(line?.split(' ')[1]);
}

test('a Route whose Service and EndpointSlice come in later batches is served with its endpoints at readiness, from one table update', async (t) => {
  const backend = await startBackend('web');
  t.teardown(() => backend.close());
  const source = new BatchedSource([
    [route('home', 'home.test', 'web'), route('other', 'other.test', 'web')],
    [service('web')],
    [slice('web-1', 'web', backend.port)],
  ]);
  const router = createRouter({
    config: { bind: '127.0.0.1', adminBind: '127.0.0.1', httpPort: 0, httpsPort: 0, adminPort: 0, logLevel: 'silent' },
    sources: [source],
  });
  const ports = await router.start();
  t.teardown(() => router.stop(true));
  t.is(source.batchesDelivered, 3);

  // Both hosts in the table with the endpoint from the last batch, built by one update.
  const hosts = router.inspect().hosts;
  t.deepEqual(hosts.map((h) => h.host).sort(), ['home.test', 'other.test']);
  for (const host of hosts) t.deepEqual(host.routes[0]!.backends[0]!.endpoints.map((e) => `${e.address}:${e.port}`), [`127.0.0.1:${backend.port}`]);
  t.is(await tableUpdates(router), 1);
  const reply = await request(ports.http, { host: 'home.test' });
  t.is(reply.status, 200);
  t.is(reply.headers['x-backend'], 'web');

  // After readiness: incremental as before (one change, one more update).
  source.sink!.apply(route('late', 'late.test', 'web'));
  await eventually(async () => (await request(ports.http, { host: 'late.test' })).status === 200);
  t.is(await tableUpdates(router), 2);
});
