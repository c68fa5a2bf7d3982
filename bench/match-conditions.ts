// `node bench/match-conditions.ts`: the cost of the table lookup (RouteTable.match) for a host
// served by Routes only, next to hosts served by HTTPRoutes whose rules carry method, header and
// query conditions (Gateway API), measured in one process, rounds interleaved so machine load
// hits every variant alike. Prints min and median ns per lookup. Env: MATCH_HOSTS (10000),
// MATCH_ROUNDS (15), MATCH_LOOKUPS (1000000 per round).

import { RouteTable } from '../src/table/route-table.ts';
import type { CompiledRoute, GatewayRouteData, HostEntry, RequestConditions } from '../src/table/types.ts';

const HOSTS = Number(process.env.MATCH_HOSTS ?? 10_000);
const ROUNDS = Number(process.env.MATCH_ROUNDS ?? 15);
const LOOKUPS = Number(process.env.MATCH_LOOKUPS ?? 1_000_000);

function compiled(host: string, i: number, conditions: RequestConditions | null): CompiledRoute {
  const route = {
    key: `${conditions ? 'HTTPRoute' : 'Route'}/ns/${host}-${i}`, kind: conditions ? 'HTTPRoute' : 'Route', namespace: 'ns', name: `${host}-${i}`,
    host, wildcard: false, path: conditions ? '/api' : `/p${i}`, match: conditions ? 'prefix' : 'route', services: [], tls: null,
    policy: {}, annotations: {}, middlewares: [],
  } as unknown as CompiledRoute;
  if (conditions) {
    route.gateway = {
      conditions, age: 0, owner: 'ns/r', rule: i, matchIndex: 0,
      requestHeaders: null, responseHeaders: null, redirect: null, rewrite: null, invalidShare: 0,
    } satisfies GatewayRouteData;
  }
  return route;
}

const hosts = Array.from({ length: HOSTS }, (_, h) => `h${h}.example.com`);
const gatewayHosts = hosts.map((h) => `gw-${h}`);
const upsert: HostEntry[] = [];
for (const h of hosts) upsert.push({ key: h, routes: [0, 1, 2].map((i) => compiled(h, i, null)) });
for (const h of gatewayHosts) {
  // Three rules on /api: header + query, method, none — the request below matches the last.
  upsert.push({
    key: h, routes: [
      compiled(h, 0, { method: null, headers: [['x-version', 'v2']], query: [['env', 'canary']], http: true, https: true, listeners: null, patterns: null }),
      compiled(h, 1, { method: 'POST', headers: [], query: [], http: true, https: true, listeners: null, patterns: null }),
      compiled(h, 2, { method: null, headers: [], query: [], http: true, https: true, listeners: null, patterns: null }),
    ],
  });
}
const table = new RouteTable<string>((r) => r.key, () => {});
table.apply({ version: 1, upsert, remove: [] });
const request = { method: 'GET', headers: { 'x-version': 'v1', accept: '*/*' } };

function run(names: readonly string[], path: string): number {
  let found = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < LOOKUPS; i++) if (table.match(names[i % names.length]!, path, request, false) !== null) found++;
  if (found !== LOOKUPS) throw new Error(`only ${found} of ${LOOKUPS} lookups matched`);
  return Number(process.hrtime.bigint() - started) / LOOKUPS;
}

const variants: Array<[string, () => number]> = [
  ['Routes only (3 paths per host)', () => run(hosts, '/p2/x')],
  ['HTTPRoutes, 3 conditional rules', () => run(gatewayHosts, '/api/x?env=prod&page=2')],
];
const samples = variants.map(() => [] as number[]);
for (let round = 0; round < ROUNDS; round++) variants.forEach(([, fn], i) => samples[i]!.push(fn()));
variants.forEach(([name], i) => {
  const s = samples[i]!.sort((a, b) => a - b);
  console.log(`${name.padEnd(34)} min ${s[0]!.toFixed(0)} ns  median ${s[s.length >> 1]!.toFixed(0)} ns per lookup`);
});
