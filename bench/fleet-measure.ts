// What the fleet benchmark reads about the control plane and the routers: CPU time and peak
// memory of a process (/proc), the API server's audit log read incrementally (requests per
// router, by the ServiceAccount each router runs as), and API Priority and Fairness counters
// from the API server's /metrics.

import { closeSync, existsSync, openSync, readSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { cpuSeconds, rssBytes } from './proc.ts';
import type { AuditEvent, RealCluster } from '../test/support/real-apiserver.ts';

/** Peak resident memory since the last reset (VmHWM), in bytes. */
export function peakRssBytes(pid: number): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Start a new peak-memory window (Linux: writing 5 to clear_refs resets VmHWM). */
export function resetPeakRss(pid: number): void {
  try { writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { /* not ours, or gone */ }
}

/** CPU seconds and peak RSS of a process over a window. */
export class ProcessWindow {
  readonly #pid: number;
  #cpu0: number;
  constructor(pid: number) {
    this.#pid = pid;
    this.#cpu0 = cpuSeconds(pid);
    resetPeakRss(pid);
  }
  get cpuSeconds(): number { return cpuSeconds(this.#pid) - this.#cpu0; }
  get peakMB(): number { return Math.max(peakRssBytes(this.#pid), rssBytes(this.#pid)) / 2 ** 20; }
}

/** Direct children of this process by executable name (the harness starts etcd and kube-apiserver). */
export function childByName(name: string): number {
  const pids: number[] = [];
  for (const task of readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) pids.push(Number(task));
  const found = pids.find((pid) => {
    try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name; } catch { return false; }
  });
  if (found === undefined) throw new Error(`no child process named ${name}`);
  return found;
}

/** The audit log, read from where the last read stopped. */
export class AuditReader {
  readonly #file: string;
  #offset = 0;
  #rest = '';
  constructor(cluster: RealCluster) {
    this.#file = `${cluster.dir}/audit.log`;
  }

  /** Skip everything logged so far. */
  mark(): void {
    this.read();
  }

  /** The events logged since the last read. */
  read(): AuditEvent[] {
    if (!existsSync(this.#file)) return [];
    const size = statSync(this.#file).size;
    if (size <= this.#offset) return [];
    const fd = openSync(this.#file, 'r');
    const events: AuditEvent[] = [];
    try {
      const chunk = Buffer.alloc(Math.min(size - this.#offset, 64 * 2 ** 20));
      while (this.#offset < size) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - this.#offset), this.#offset);
        if (n <= 0) break;
        this.#offset += n;
        const text = this.#rest + chunk.toString('utf8', 0, n);
        const lines = text.split('\n');
        this.#rest = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') events.push(JSON.parse(line) as AuditEvent);
      }
    } finally {
      closeSync(fd);
    }
    return events;
  }
}

/** One request per audit event pair: a watch counts when it starts, anything else when it completes. */
export function isRequest(e: AuditEvent): boolean {
  return e.verb === 'watch' ? e.stage === 'ResponseStarted' : e.stage === 'ResponseComplete';
}

export interface RequestCounts { total: number; status: number; statusGets: number; lease: number; lists: number; watches: number }

export function countRequests(events: readonly AuditEvent[], user: string): RequestCounts {
  const counts: RequestCounts = { total: 0, status: 0, statusGets: 0, lease: 0, lists: 0, watches: 0 };
  for (const e of events) {
    if (e.user.username !== user || !isRequest(e)) continue;
    counts.total++;
    const ref = e.objectRef;
    if (ref?.subresource === 'status') {
      counts.status++;
      if (e.verb === 'get') counts.statusGets++;
    }
    if (ref?.resource === 'leases') counts.lease++;
    if (e.verb === 'list') counts.lists++;
    if (e.verb === 'watch') counts.watches++;
  }
  return counts;
}

export interface ApiServerTotals {
  waitSeconds: number;
  rejected: number;
  allocatedBytes: number;
  /**
   * The Go runtime's own CPU classes (go_cpu_classes_*): garbage collection, all, idle. P time,
   * which a loaded machine stretches, and brought up to date only when a collection ends: used
   * over a whole run only, against its OS CPU time.
   */
  gcCpu: number;
  allCpu: number;
  idleCpu: number;
  /** Garbage collections so far. */
  gcCycles: number;
  /** Lists served so far from the watch cache, and from etcd (apiserver_storage_list_total), all resources. */
  cacheLists: number;
  etcdLists: number;
  /** Consistent reads the watch cache could not serve in time, served from etcd instead. */
  cacheFallbacks: number;
  /**
   * Objects kube-apiserver read from etcd for lists (apiserver_storage_list_fetched_objects_total,
   * all resources): besides the fallbacks above, continue pages whose snapshot the watch cache no
   * longer holds, and its own consistency checks (every 5-7.5 min a full list of each resource).
   */
  etcdObjects: number;
  /** Those consistency checks so far (apiserver_storage_consistency_checks_total). */
  consistencyChecks: number;
}

/**
 * From the API server's /metrics, so far: API Priority and Fairness — seconds requests waited in
 * queues, requests rejected (all priority levels) — and the bytes its Go runtime allocated (what
 * its garbage collection costs is proportional to, wherever a collection lands).
 */
export async function apfTotals(cluster: RealCluster): Promise<ApiServerTotals> {
  const reply = await cluster.api<string>('GET', '/metrics');
  const text = typeof reply.body === 'string' ? reply.body : '';
  let waitSeconds = 0;
  let rejected = 0;
  let allocatedBytes = NaN;
  let gcCpu = NaN;
  let allCpu = NaN;
  let idleCpu = NaN;
  let gcCycles = NaN;
  let cacheLists = 0;
  let etcdLists = 0;
  let cacheFallbacks = 0;
  let etcdObjects = 0;
  let consistencyChecks = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('apiserver_storage_list_fetched_objects_total{')) etcdObjects += Number(line.slice(line.lastIndexOf(' ') + 1));
    else if (line.startsWith('apiserver_storage_consistency_checks_total{')) consistencyChecks += Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('apiserver_watch_cache_consistent_read_total{') && line.includes('fallback="true"')) cacheFallbacks += Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('apiserver_cache_list_total{')) cacheLists += Number(line.slice(line.lastIndexOf(' ') + 1));
    else if (line.startsWith('apiserver_storage_list_total{')) etcdLists += Number(line.slice(line.lastIndexOf(' ') + 1));
    const value = () => Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('go_memstats_alloc_bytes_total ')) allocatedBytes = value();
    else if (line.startsWith('go_cpu_classes_gc_total_cpu_seconds_total ')) gcCpu = value();
    else if (line.startsWith('go_cpu_classes_total_cpu_seconds_total ')) allCpu = value();
    else if (line.startsWith('go_cpu_classes_idle_cpu_seconds_total ')) idleCpu = value();
    else if (line.startsWith('go_gc_cycles_total_gc_cycles_total ')) gcCycles = value();
    if (line.startsWith('apiserver_flowcontrol_request_wait_duration_seconds_sum{')) waitSeconds += Number(line.slice(line.lastIndexOf(' ') + 1));
    else if (line.startsWith('apiserver_flowcontrol_rejected_requests_total{')) rejected += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { waitSeconds, rejected, allocatedBytes, gcCpu, allCpu, idleCpu, gcCycles, cacheLists, etcdLists, cacheFallbacks, etcdObjects, consistencyChecks };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
