// Test hosts with real, non-loopback addresses, for the real-apiserver suite: the API server
// refuses 127.0.0.0/8 in EndpointSlices, so pods that traffic must reach live in a network
// namespace this module creates, joined to the host namespace by a veth pair.
//
// Addresses come from the lower half of 203.0.113.0/24 (TEST-NET-3, RFC 5737: documentation only,
// never routed on the internet; the upper half, 203.0.113.128/25, is the test node's pod network,
// test/k8s/node/pod-network.ts), one /28 block per test file: the host end of the veth takes the block's first
// address, pods the next ones, inside the namespace. (Not 192.0.2.0/24: that is this machine's
// own network, eth0 and its gateway; a /28 on a veth would shadow part of it.) Nothing here
// sends traffic anywhere but to the addresses it assigned. Needs root (CAP_NET_ADMIN) and
// iproute2; without them createNetnsHosts fails with one line saying so — never a silent skip.
//
// Everything is torn down by close() (call it in test.after.always), and also when the worker
// exits or is stopped by a signal: echo servers killed, the namespace and the veth deleted.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

const RANGE = '203.0.113';
/** Blocks 0-7 of 203.0.113.0/24 (its lower /25); the upper /25 belongs to test/k8s/node. */
const BLOCKS = 8;
const PREFIX = 28;

export interface EchoHost {
  address: string;
  port: number;
  close(): Promise<void>;
}

export interface NetnsHosts {
  /** The network namespace's name (unique per worker and block). */
  namespace: string;
  /** The host end of the veth pair: the source address of the router's connections. */
  hostAddress: string;
  /** Pod addresses assigned inside the namespace, in order. */
  addresses: string[];
  /**
   * A real HTTP server inside the namespace on one of `addresses`. Every answer is JSON
   * `{ address, port, method, url }` with header x-pod-address, so tests can tell pods apart.
   */
  startEcho(address: string, port: number): Promise<EchoHost>;
  close(): Promise<void>;
}

// Runs inside the namespace: `node -e ECHO_SERVER <address> <port>`; prints "listening" when ready.
// Its stdin is a pipe from the worker, held open for its lifetime.
const ECHO_SERVER = `
const [address, port] = process.argv.slice(1);
require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-pod-address': address });
    res.end(JSON.stringify({ address, port: Number(port), method: req.method, url: req.url }));
  });
}).listen(Number(port), address, () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
// Its parent (the test worker) gone, even by SIGKILL: stdin ends, and so does the server.
process.stdin.on('end', () => process.exit(0)).resume();
`;

function ip(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { ok: false, out: `ip: ${r.error.message}` };
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

function must(args: string[]): void {
  const r = ip(args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.out}`);
}

const hostLink = (block: number) => `swyk8s${block}h`;
const nsName = (block: number) => `switchyard-b${block}-${process.pid}`;

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Remove what a killed run left behind (its worker's pid is gone): its namespace and veth. */
function removeStale(): void {
  for (const line of ip(['netns', 'list']).out.split('\n')) {
    const m = /^switchyard-b(\d+)-(\d+)\b/.exec(line);
    if (!m || alive(Number(m[2]))) continue;
    for (const pid of ip(['netns', 'pids', `switchyard-b${m[1]}-${m[2]}`]).out.split('\n')) {
      if (/^\d+$/.test(pid)) try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone already */ }
    }
    ip(['netns', 'del', `switchyard-b${m[1]}-${m[2]}`]);
    ip(['link', 'del', hostLink(Number(m[1]))]);
  }
}

/** Does a route destination (`a.b.c.d` or `a.b.c.d/n`) overlap this module's half, 203.0.113.0/25? */
function overlapsLowerHalf(destination: string): boolean {
  const [address, bits] = destination.split('/');
  const octets = (address ?? '').split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o))) return false;
  const prefix = bits === undefined ? 32 : Number(bits);
  const value = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const lower = (203 << 24 | 0 << 16 | 113 << 8) >>> 0;
  const common = Math.min(prefix, 25);
  const mask = common === 0 ? 0 : (~0 << (32 - common)) >>> 0;
  return ((value & mask) >>> 0) === ((lower & mask) >>> 0);
}

/** Refuse to shadow anything the host already routes in our half (its own network, say). */
function checkRangeFree(): void {
  const routes = ip(['-4', '-o', 'route', 'show']).out.split('\n')
    .filter((l) => overlapsLowerHalf(l.split(/\s+/)[0] ?? '') && !/dev swyk8s\d+h\b/.test(l));
  if (routes.length > 0) throw new Error(`netns-hosts: the host already routes part of ${RANGE}.0/25 (${routes[0]}); refusing to shadow it`);
}

const cleanups = new Set<() => void>();
const cleanupAll = () => { for (const c of [...cleanups]) c(); };
process.on('exit', cleanupAll);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => { cleanupAll(); process.kill(process.pid, signal); });
}

/** A namespace with `count` pod addresses (at most 13), reachable from the host namespace. */
export async function createNetnsHosts(count: number): Promise<NetnsHosts> {
  if (count < 1 || count > 13) throw new Error(`netns-hosts: ${count} addresses asked, a /28 block holds 1 to 13`);
  const probe = ip(['netns', 'list']);
  if (!probe.ok) throw new Error(`netns-hosts: cannot use network namespaces (${probe.out}); the pod-routing tests need iproute2 and root (CAP_NET_ADMIN)`);
  removeStale();
  checkRangeFree();

  // Claim a block atomically: creating its host veth fails if another worker holds it.
  let block = -1;
  let namespace = '';
  for (let b = 0; b < BLOCKS && block < 0; b++) {
    namespace = nsName(b);
    const add = ip(['netns', 'add', namespace]);
    if (!add.ok) throw new Error(`netns-hosts: cannot create a network namespace (${add.out}); the pod-routing tests need root (CAP_NET_ADMIN)`);
    const link = ip(['link', 'add', hostLink(b), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
    if (link.ok) { block = b; break; }
    ip(['netns', 'del', namespace]);
    if (!/exists/i.test(link.out)) throw new Error(`netns-hosts: cannot create a veth pair (${link.out})`);
  }
  if (block < 0) throw new Error(`netns-hosts: all ${BLOCKS} address blocks of ${RANGE}.0/25 are in use (links ${hostLink(0)}..${hostLink(BLOCKS - 1)})`);

  const servers = new Set<ChildProcess>();
  let closed = false;
  const teardown = () => {
    if (closed) return;
    closed = true;
    cleanups.delete(teardown);
    for (const child of servers) child.kill('SIGKILL');
    // Deleting the namespace deletes its veth end, and with it the pair; the explicit link
    // delete covers a namespace kept alive by a process still inside it.
    ip(['netns', 'del', namespace]);
    ip(['link', 'del', hostLink(block)]);
  };
  cleanups.add(teardown);

  const base = block * 16;
  const hostAddress = `${RANGE}.${base + 1}`;
  const addresses = Array.from({ length: count }, (_, i) => `${RANGE}.${base + 2 + i}`);
  try {
    must(['addr', 'add', `${hostAddress}/${PREFIX}`, 'dev', hostLink(block)]);
    must(['link', 'set', hostLink(block), 'up']);
    for (const a of addresses) must(['-n', namespace, 'addr', 'add', `${a}/${PREFIX}`, 'dev', 'eth0']);
    must(['-n', namespace, 'link', 'set', 'lo', 'up']);
    must(['-n', namespace, 'link', 'set', 'eth0', 'up']);
  } catch (err) {
    teardown();
    throw err;
  }

  return {
    namespace, hostAddress, addresses,
    async startEcho(address, port) {
      if (!addresses.includes(address)) throw new Error(`netns-hosts: ${address} is not one of this namespace's addresses (${addresses.join(', ')})`);
      const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, '-e', ECHO_SERVER, address, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
      servers.add(child);
      const exited = new Promise<void>((resolve) => child.once('exit', () => { servers.delete(child); resolve(); }));
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => reject(new Error(`echo server on ${address}:${port} in ${namespace} exited (${code ?? signal}): ${stderr.trim()}`)));
        child.stdout!.setEncoding('utf8').on('data', (c: string) => { if (c.includes('listening')) resolve(); });
      });
      return {
        address, port,
        async close() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          await exited;
        },
      };
    },
    async close() {
      const waits = [...servers].map((child) => new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve(); else child.once('exit', () => resolve());
      }));
      for (const child of servers) child.kill('SIGTERM');
      await Promise.all(waits);
      teardown();
    },
  };
}
