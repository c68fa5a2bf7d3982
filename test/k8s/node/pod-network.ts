// A pod's own network namespace, as a CNI plugin would make it, for the test node: a veth pair
// from the host namespace, one address from 203.0.113.128/25 (the upper half of TEST-NET-3, RFC
// 5737, documentation only; test/support/netns-hosts.ts keeps to the lower half, so both run at
// once) on the pod's eth0, a /32 host route to it, and proxy ARP on the host end so that the pod's
// default route needs no gateway address (the routed "ptp" layout of Calico and similar plugins).
// Only this machine is ever involved: the pod answers the host over its veth, nothing is
// forwarded.
//
// An address is claimed by adding its /32 route: `ip route add` fails if any other node process
// holds it, so several nodes (test files) share the range without coordination. Namespaces and
// links carry this process's id; close() removes them, and so do the exit/signal handlers and,
// for a run that was killed, the next run (removeStalePodNetworks).

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const RANGE = '203.0.113';
/** 203.0.113.130 .. 203.0.113.254 (.128 network, .129 left unused as a gateway-looking address, .255 broadcast) */
const FIRST = 130;
const LAST = 254;

export interface PodNetwork {
  /** Name of the network namespace (under /run/netns). */
  namespace: string;
  address: string;
  close(): void;
}

function ip(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { ok: false, out: `ip: ${r.error.message}` };
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

function must(args: string[]): void {
  const r = ip(args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.out}`);
}

const NAMESPACE_PREFIX = 'switchyard-node-';
const hostLink = (pid: number, index: number) => `syn${pid}p${index}`;
const namespaceName = (pid: number, index: number) => `${NAMESPACE_PREFIX}${pid}-${index}`;

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Delete the namespaces, links and routes of node processes that are gone (a killed run). */
export function removeStalePodNetworks(): void {
  for (const line of ip(['netns', 'list']).out.split('\n')) {
    const m = new RegExp(`^${NAMESPACE_PREFIX}(\\d+)-(\\d+)\\b`).exec(line);
    if (!m || alive(Number(m[1]))) continue;
    const ns = `${NAMESPACE_PREFIX}${m[1]}-${m[2]}`;
    for (const pid of ip(['netns', 'pids', ns]).out.split('\n')) {
      if (/^\d+$/.test(pid)) try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
    ip(['netns', 'del', ns]);
    ip(['link', 'del', hostLink(Number(m[1]), Number(m[2]))]); // takes its /32 route with it
  }
}

/** Fails with one line when this machine cannot make network namespaces (needs root and iproute2). */
export function checkPodNetworking(): void {
  const probe = ip(['netns', 'list']);
  if (!probe.ok) throw new Error(`test node: cannot use network namespaces (${probe.out}); pods need iproute2 and root (CAP_NET_ADMIN)`);
  const routes = ip(['-4', '-o', 'route', 'show']).out.split('\n')
    .filter((l) => /^(203\.0\.113\.(12[89]|1[3-9]\d|2\d\d)(\/\d+)?|203\.0\.113\.0\/24)\s/.test(l) && !/ dev syn\d+p\d+\b/.test(l));
  if (routes.length > 0) throw new Error(`test node: the host already routes part of ${RANGE}.128/25 (${routes[0]}); refusing to shadow it`);
}

let nextIndex = 0;

/** A new network namespace with one address of the range, reachable from the host namespace. */
export function createPodNetwork(): PodNetwork {
  const index = nextIndex++;
  const namespace = namespaceName(process.pid, index);
  const link = hostLink(process.pid, index);
  const add = ip(['netns', 'add', namespace]);
  if (!add.ok) throw new Error(`test node: cannot create network namespace ${namespace} (${add.out}); pods need root (CAP_NET_ADMIN)`);
  let address = '';
  const close = () => {
    ip(['netns', 'del', namespace]);
    ip(['link', 'del', link]);
  };
  try {
    must(['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
    must(['link', 'set', link, 'up']);
    // Claim the first free address: the /32 route is the lock (EEXIST while another node has it).
    const start = FIRST + ((process.pid + index) % (LAST - FIRST + 1));
    for (let i = 0; i <= LAST - FIRST && !address; i++) {
      const candidate = `${RANGE}.${FIRST + ((start - FIRST + i) % (LAST - FIRST + 1))}`;
      const r = ip(['route', 'add', `${candidate}/32`, 'dev', link]);
      if (r.ok) address = candidate;
      else if (!/exists/i.test(r.out)) throw new Error(`ip route add ${candidate}/32 dev ${link}: ${r.out}`);
    }
    if (!address) throw new Error(`test node: every address of ${RANGE}.128/25 is taken`);
    // The host end answers the pod's ARP for any address (its default route has no gateway).
    writeFileSync(`/proc/sys/net/ipv4/conf/${link}/proxy_arp`, '1');
    must(['-n', namespace, 'addr', 'add', `${address}/32`, 'dev', 'eth0']);
    must(['-n', namespace, 'link', 'set', 'lo', 'up']);
    must(['-n', namespace, 'link', 'set', 'eth0', 'up']);
    must(['-n', namespace, 'route', 'add', 'default', 'dev', 'eth0', 'scope', 'link']);
  } catch (err) {
    close();
    throw err;
  }
  return { namespace, address, close };
}
