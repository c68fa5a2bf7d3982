// switchyard kube-relay's /readyz (src/relay/readiness.ts), a real relay process against the fake
// API server: 503 until the relay has reached the API server with its own credentials, 200 once it
// has, 503 again after it lost it for longer than --unready-after, 200 when it is back; /healthz
// (liveness) answers 200 throughout. The waits are on the relay's own log of each change.

import test from 'ava';
import { eventually } from '../support/http-client.ts';
import { FakeApiServer } from '../support/fake-apiserver.ts';
import { relayTls, startRelay, type RelayProcess } from '../support/relay-process.ts';

async function probe(relay: RelayProcess, path: '/readyz' | '/healthz'): Promise<{ status: number; text: string }> {
  const reply = await fetch(`${relay.adminUrl}${path}`);
  return { status: reply.status, text: await reply.text() };
}

function logged(relay: RelayProcess, msg: string): number {
  return relay.logs.filter((l) => l['msg'] === msg).length;
}

test('/readyz: 503 until the API server answers the relay, 200 while it does, 503 after losing it for --unready-after, 200 again; /healthz 200 throughout', async (t) => {
  t.timeout(120_000);
  const api = await FakeApiServer.start();
  let relay: RelayProcess | undefined;
  try {
    // Unreachable from the relay's start.
    let back!: () => void;
    let outage = api.refuseConnections(new Promise<void>((resolve) => { back = resolve; }));
    relay = await startRelay({ kubeconfig: api.kubeconfigPath, tls: await relayTls(), args: ['--unready-after', '3'] });
    const before = await probe(relay, '/readyz');
    t.is(before.status, 503);
    t.regex(before.text, /^not ready: the API server has not answered the relay yet/);
    t.is((await probe(relay, '/healthz')).status, 200, 'alive all the same');

    back();
    await outage;
    await eventually(() => logged(relay!, 'the API server answers: ready') === 1, 60_000, 50);
    t.deepEqual(await probe(relay, '/readyz'), { status: 200, text: 'ok\n' });

    // Lost: not ready once it has not answered for 3 s.
    outage = api.refuseConnections(new Promise<void>((resolve) => { back = resolve; }));
    await eventually(() => logged(relay!, 'lost the API server: not ready') === 1, 60_000, 50);
    const lost = await probe(relay, '/readyz');
    t.is(lost.status, 503);
    t.regex(lost.text, /^not ready: the API server has not answered the relay for \d+ s/);
    t.is((await probe(relay, '/healthz')).status, 200);

    back();
    await outage;
    await eventually(() => logged(relay!, 'the API server answers: ready') === 2, 60_000, 50);
    t.is((await probe(relay, '/readyz')).status, 200);
  } finally {
    await relay?.stop();
    await api.close();
  }
});
