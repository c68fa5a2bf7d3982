import test from 'ava';
import { createBalancer, BALANCE_ALGORITHMS } from '../../src/balance/create-balancer.ts';
import { fnv1a32 } from '../../src/balance/source-hash.ts';
import type { Balancer, Member } from '../../src/balance/types.ts';
import { EndpointState } from '../../src/health/endpoint-state.ts';
import type { Balance } from '../../src/table/types.ts';

const NOW = 1_700_000_000_000;

/** Requests in flight to the endpoint: started or ended until there are `n`. */
function setActive(endpoint: EndpointState, n: number): void {
  while (endpoint.active < n) endpoint.started();
  while (endpoint.active > n) endpoint.ended();
}

function member(id: string, weight: number, acceptsNew = true): Member {
  const last = Number.parseInt(id.replace(/\D/g, '') || '1', 10) % 250;
  return { endpoint: new EndpointState(id, `10.0.0.${last}`, 8080), weight, acceptsNew };
}

function clientIp(i: number): string {
  return `192.168.${(i >> 8) & 255}.${i & 255}`;
}

/** Pick `n` times (a new client IP each time, for `source`) and count picks by endpoint id. */
function countPicks(balancer: Balancer, n: number, exclude?: Member): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const m = balancer.pick(clientIp(i), NOW, exclude);
    const key = m === null ? 'null' : m.endpoint.id;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

for (const algorithm of BALANCE_ALGORITHMS) {
  test(`${algorithm}: weights 70/30/0 split within tolerance, weight 0 never picked`, (t) => {
    const members = [member('a1', 70), member('b2', 30), member('c3', 0)];
    const counts = countPicks(createBalancer(algorithm, members), 10_000);
    const a = counts.get('a1') ?? 0;
    const b = counts.get('b2') ?? 0;
    t.is(counts.get('c3'), undefined);
    t.is(counts.get('null'), undefined);
    t.is(a + b, 10_000);
    t.true(Math.abs(a - 7000) <= 300, `a1 got ${a}`);
    t.true(Math.abs(b - 3000) <= 300, `b2 got ${b}`);
  });

  test(`${algorithm}: unavailable, ejected and terminating members are skipped`, (t) => {
    const down = member('d1', 10);
    down.endpoint.activeUp = false;
    const ejected = member('e2', 10);
    ejected.endpoint.ejectedUntil = NOW + 1000;
    const terminating = member('t3', 10, false);
    const healthy = member('h4', 1);
    const counts = countPicks(createBalancer(algorithm, [down, ejected, terminating, healthy]), 500);
    t.deepEqual([...counts], [['h4', 500]]);
  });

  test(`${algorithm}: an ejection that has expired no longer excludes the member`, (t) => {
    const m = member('x1', 1);
    m.endpoint.ejectedUntil = NOW - 1;
    t.is(createBalancer(algorithm, [m]).pick('10.1.1.1', NOW), m);
  });

  test(`${algorithm}: exclude picks another member, or null when it was the only one`, (t) => {
    const a = member('a1', 50);
    const b = member('b2', 50);
    const counts = countPicks(createBalancer(algorithm, [a, b]), 1000, a);
    t.deepEqual([...counts], [['b2', 1000]]);
    const solo = member('s3', 1);
    t.is(createBalancer(algorithm, [solo]).pick('10.1.1.1', NOW, solo), null);
    // excluding by endpoint: a different Member object for the same endpoint is excluded too
    const other = { endpoint: a.endpoint, weight: 1, acceptsNew: true };
    t.is(createBalancer(algorithm, [a]).pick('10.1.1.1', NOW, other), null);
    const c = member('c4', 1);
    c.endpoint.activeUp = false;
    t.is(createBalancer(algorithm, [solo, c]).pick('10.1.1.1', NOW, solo), null);
  });

  test(`${algorithm}: all down, all weight 0, or no members at all → null`, (t) => {
    const members = [member('a1', 1), member('b2', 2)];
    for (const m of members) m.endpoint.activeUp = false;
    t.is(createBalancer(algorithm, members).pick('10.1.1.1', NOW), null);
    t.is(createBalancer(algorithm, [member('z1', 0), member('z2', 0)]).pick('10.1.1.1', NOW), null);
    t.is(createBalancer(algorithm, []).pick('10.1.1.1', NOW), null);
    t.is(createBalancer(algorithm, [member('n1', Number.NaN), member('n2', -5)]).pick('10.1.1.1', NOW), null);
  });

  test(`${algorithm}: a member that comes back up is picked again`, (t) => {
    const a = member('a1', 1);
    const b = member('b2', 1);
    const balancer = createBalancer(algorithm, [a, b]);
    a.endpoint.activeUp = false;
    t.deepEqual([...countPicks(balancer, 200)], [['b2', 200]]);
    a.endpoint.activeUp = true;
    b.endpoint.activeUp = false;
    t.deepEqual([...countPicks(balancer, 200)], [['a1', 200]]);
  });
}

test('unknown algorithm is a clear error', (t) => {
  t.throws(() => createBalancer('fastest' as Balance, []), { instanceOf: TypeError, message: /unknown balance algorithm "fastest"/ });
});

test('roundrobin is smooth: weights 5/1/1 interleave as nginx does', (t) => {
  const a = member('a1', 5);
  const b = member('b2', 1);
  const c = member('c3', 1);
  const balancer = createBalancer('roundrobin', [a, b, c]);
  const order = Array.from({ length: 7 }, () => balancer.pick('', NOW)!.endpoint.id);
  t.deepEqual(order, ['a1', 'a1', 'b2', 'a1', 'c3', 'a1', 'a1']);
});

test('roundrobin with equal weights rotates', (t) => {
  const balancer = createBalancer('roundrobin', [member('a1', 1), member('b2', 1), member('c3', 1)]);
  const order = Array.from({ length: 6 }, () => balancer.pick('', NOW)!.endpoint.id);
  t.deepEqual(order, ['a1', 'b2', 'c3', 'a1', 'b2', 'c3']);
});

test('leastconn prefers the member with the lowest load relative to weight', (t) => {
  const a = member('a1', 1);
  const b = member('b2', 1);
  const c = member('c3', 2);
  const balancer = createBalancer('leastconn', [a, b, c]);
  setActive(a.endpoint, 3);
  setActive(b.endpoint, 1);
  setActive(c.endpoint, 2);
  // loads: a (3+1)/1 = 4, b (1+1)/1 = 2, c (2+1)/2 = 1.5
  t.is(balancer.pick('', NOW), c);
  setActive(c.endpoint, 4); // (4+1)/2 = 2.5
  t.is(balancer.pick('', NOW), b);
  setActive(b.endpoint, 0); // idle beats any load
  t.is(balancer.pick('', NOW), b);
});

test('leastconn shares equally loaded members by rotation', (t) => {
  const members = [member('a1', 1), member('b2', 1), member('c3', 1)];
  for (const m of members) setActive(m.endpoint, 2);
  const counts = countPicks(createBalancer('leastconn', members), 300);
  t.deepEqual([...counts].sort(), [['a1', 100], ['b2', 100], ['c3', 100]]);
});

test('leastconn under concurrency: in-flight requests follow the weights', (t) => {
  const members = [member('a1', 70), member('b2', 30)];
  const balancer = createBalancer('leastconn', members);
  // 100 requests held open: active counts settle on the weight ratio
  for (let i = 0; i < 100; i++) balancer.pick('', NOW)!.endpoint.started();
  t.true(Math.abs(members[0].endpoint.active - 70) <= 2, `a1 has ${members[0].endpoint.active}`);
  t.true(Math.abs(members[1].endpoint.active - 30) <= 2, `b2 has ${members[1].endpoint.active}`);
});

test('random (two choices) avoids the busier member of each pair', (t) => {
  const busy = member('a1', 1);
  const idle = member('b2', 1);
  setActive(busy.endpoint, 50);
  // with two members both are always drawn, so the idle one always wins
  t.deepEqual([...countPicks(createBalancer('random', [busy, idle]), 1000)], [['b2', 1000]]);
  // with many members the busy one is chosen only when drawn with another equally busy member: never here
  const others = Array.from({ length: 8 }, (_, i) => member(`o${i + 10}`, 1));
  const counts = countPicks(createBalancer('random', [busy, ...others]), 2000);
  t.is(counts.get('a1'), undefined);
});

test('random draws correctly when most members are down (fallback scan)', (t) => {
  const members = Array.from({ length: 20 }, (_, i) => member(`m${i + 1}`, 1));
  for (let i = 0; i < 18; i++) members[i].endpoint.activeUp = false;
  const counts = countPicks(createBalancer('random', members), 4000);
  t.deepEqual([...counts.keys()].sort(), ['m19', 'm20']);
  t.true(Math.abs(counts.get('m19')! - 2000) <= 200);
});

test('source: the same client always gets the same member', (t) => {
  const balancer = createBalancer('source', [member('a1', 1), member('b2', 1), member('c3', 1)]);
  for (let i = 0; i < 200; i++) {
    const first = balancer.pick(clientIp(i), NOW);
    for (let k = 0; k < 5; k++) t.is(balancer.pick(clientIp(i), NOW), first);
  }
  // a rebuilt balancer over the same endpoints (new table) keeps every assignment
  const rebuilt = createBalancer('source', [member('c3', 1), member('a1', 1), member('b2', 1)]);
  for (let i = 0; i < 200; i++) t.is(rebuilt.pick(clientIp(i), NOW)!.endpoint.id, balancer.pick(clientIp(i), NOW)!.endpoint.id);
});

test('source: removing one member moves only its own clients', (t) => {
  const ids = ['a1', 'b2', 'c3', 'd4', 'e5'];
  const before = createBalancer('source', ids.map((id) => member(id, 1)));
  const after = createBalancer('source', ids.filter((id) => id !== 'c3').map((id) => member(id, 1)));
  let moved = 0;
  const movedTo = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const was = before.pick(clientIp(i), NOW)!.endpoint.id;
    const now = after.pick(clientIp(i), NOW)!.endpoint.id;
    if (was === 'c3') {
      moved++;
      movedTo.add(now);
    } else {
      t.is(now, was);
    }
  }
  t.true(moved > 250 && moved < 550, `c3 had ${moved} clients`);
  t.is(movedTo.size, 4); // its clients spread over the others
});

test('source: an unavailable member moves only its own clients, which return when it is back', (t) => {
  const members = ['a1', 'b2', 'c3'].map((id) => member(id, 1));
  const balancer = createBalancer('source', members);
  const original = Array.from({ length: 600 }, (_, i) => balancer.pick(clientIp(i), NOW)!.endpoint.id);
  members[1].endpoint.activeUp = false;
  for (let i = 0; i < 600; i++) {
    const now = balancer.pick(clientIp(i), NOW)!.endpoint.id;
    if (original[i] === 'b2') t.not(now, 'b2');
    else t.is(now, original[i]);
  }
  members[1].endpoint.activeUp = true;
  for (let i = 0; i < 600; i++) t.is(balancer.pick(clientIp(i), NOW)!.endpoint.id, original[i]);
});

test('source with exclude gives the client a stable second choice', (t) => {
  const members = ['a1', 'b2', 'c3'].map((id) => member(id, 1));
  const balancer = createBalancer('source', members);
  for (let i = 0; i < 100; i++) {
    const first = balancer.pick(clientIp(i), NOW)!;
    const second = balancer.pick(clientIp(i), NOW, first);
    t.not(second, first);
    t.is(balancer.pick(clientIp(i), NOW, first), second);
  }
});

test('fnv1a32 matches the reference vectors', (t) => {
  t.is(fnv1a32(''), 0x811c9dc5);
  t.is(fnv1a32('a'), 0xe40c292c);
  t.is(fnv1a32('foobar'), 0xbf9cf968);
});

test('every algorithm returns only members it was given and honours member weights across many services', (t) => {
  // three services 50/30/20 with 2, 3 and 1 endpoints: the effective weights split each service's weight
  const members = [
    member('s1e1', 25), member('s1e2', 25),
    member('s2e1', 10), member('s2e2', 10), member('s2e3', 10),
    member('s3e1', 20),
  ];
  for (const algorithm of BALANCE_ALGORITHMS) {
    const counts = countPicks(createBalancer(algorithm, members), 10_000);
    const service = (prefix: string) => [...counts].filter(([id]) => id.startsWith(prefix)).reduce((s, [, n]) => s + n, 0);
    t.true(Math.abs(service('s1') - 5000) <= 350, `${algorithm} s1 ${service('s1')}`);
    t.true(Math.abs(service('s2') - 3000) <= 350, `${algorithm} s2 ${service('s2')}`);
    t.true(Math.abs(service('s3') - 2000) <= 350, `${algorithm} s3 ${service('s3')}`);
  }
});
