// The UDP listeners of Gateways with addresses of their own (Gateway API UDPRoute): one datagram
// socket per UDP entry point (TableDelta.entryPoints, protocol UDP), bound on the Gateway's
// address and the listener's port (SO_REUSEPORT, like the TCP ones: the kernel keeps one client's
// datagrams on one socket, so on one proxy thread). UDP has no connections: a client address and
// port is a *session*, opened by its first datagram. The session gets an upstream socket of its
// own, connected to one endpoint of the oldest UDPRoute attached to the listener (chosen by the
// route's balancer: smooth weighted round robin over its ready endpoints), and datagrams are
// relayed both ways: the client's to the endpoint, the endpoint's back to the client from the
// listener's address and port.
//
// Before a session opens, the route's chain runs its connection phase for it, as for a TCPRoute's
// connection (udp-session-admission.ts): router-wide Middlewares' connection checks (allowlists,
// rate limits, an invalid Middleware) and the share of invalid backendRefs. A refused client gets
// no session and nothing reaches a backend: its datagrams are dropped and counted by why. The
// refusal is remembered for the client (address and port) as long as a session would have lived
// (until it has been quiet for --udp-session-timeout), so a flood from it does not run the chain
// per datagram; a new runtime of the route (a policy changed) decides afresh.
//
// A session ends when it has been idle (no datagram either way) for --udp-session-timeout, when
// its endpoint refuses (ICMP port unreachable reads as ECONNREFUSED on the connected socket:
// counted, and a passive-health failure of the endpoint), when the listener no longer routes to
// that endpoint (the route removed or replaced, the endpoint gone from its Service: the next
// datagram of the client opens a new session, if a route is left), and at shutdown. At most
// --max-udp-sessions sessions per listener and proxy thread: the datagram that would open one
// more is dropped and counted, never an error (a flood of client addresses cannot exhaust the
// router's sockets or memory). Datagrams that arrive before the upstream socket is connected wait
// in a short queue (the rest are dropped). A socket that cannot be bound (an address the node
// does not hold yet) is retried every few seconds, as the TCP ones are. Time comes from a Clock
// (clock.ts): tests drive the idle expiry and the retries without waiting on the wall clock.

import dgram from 'node:dgram';
import net from 'node:net';
import type { Counter, Gauge } from 'prom-client';
import type { Member } from '../balance/types.ts';
import type { Clock, TimerHandle } from '../clock.ts';
import type { EndpointState } from '../health/endpoint-state.ts';
import type { Logger } from '../log.ts';
import type { GatewayEntryPoint } from '../table/types.ts';
import type { RouteRuntime } from './route-runtime.ts';
import { isLastAvailable } from './upstream-failure.ts';
import { writeAccessLine } from './access-log.ts';
import { clientAddress } from './headers.ts';
import type { MiddlewareFailures } from './middleware-failures.ts';
import { ADMITTED, PENDING, UDP_REFUSALS, UdpSessionAdmission, type UdpAdmissionListener, type UdpRefusal } from './udp-session-admission.ts';

const RETRY_MS = 5_000;
/** Datagrams held per session while its upstream socket connects. */
const PENDING_LIMIT = 32;
/** One log line per listener per interval says which clients were refused (and how many more). */
const REFUSAL_LOG_MS = 10_000;

/** What the relay needs of the proxy. */
export interface UdpRelayHost {
  /** The UDPRoute serving the entry point's listener now (the oldest attached), or null. */
  route(entry: GatewayEntryPoint): RouteRuntime | null;
  recordSuccess(endpoint: EndpointState): void;
  recordFailure(endpoint: EndpointState, now: number, lastHealthy: boolean): void;
  /** Plugin phases that throw, reject or hang: counted and logged as on every way in. */
  readonly failures: MiddlewareFailures;
}

/** Relayed, or dropped (and why: the listener's own reasons, or the chain's refusal of the session). */
export type UdpDatagramResult = 'to_backend' | 'to_client' | 'no_route' | 'no_endpoint' | 'session_limit' | 'queue_full' | 'unreachable' | UdpRefusal;
export type UdpSessionEnd = 'idle' | 'unreachable' | 'error' | 'route_changed' | 'closed';

export interface UdpRelayMetrics {
  /** switchyard_udp_datagrams_total{result} */
  datagrams: Counter<'result'>;
  /** switchyard_udp_sessions_total{event}: opened, or closed_<why> */
  sessions: Counter<'event'>;
  /** switchyard_udp_sessions_active */
  active: Gauge;
}

export interface UdpRelayOptions {
  /** Idle time after which a session ends (--udp-session-timeout). */
  idleTimeoutMs: number;
  /** Sessions per listener at most (--max-udp-sessions). */
  maxSessions: number;
  clock: Clock;
  metrics: UdpRelayMetrics;
  logger: Logger;
  /** --access-log: a line per session when it ends. */
  accessLog?: boolean;
}

/** One client (address, port) of one listener. */
class UdpSession {
  readonly key: string;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly routeKey: string;
  /** `namespace/name` of the route (the access line's `route`). */
  readonly routeLabel: string;
  readonly member: Member;
  readonly startedAt: number;
  toBackend = 0;
  toClient = 0;
  readonly upstream: dgram.Socket;
  /** Datagrams waiting for the upstream socket to connect; null once connected. */
  pending: Buffer[] | null = [];
  lastActive: number;
  timer: TimerHandle | null = null;
  closed = false;
  /** The endpoint has answered (its passive-health failures reset once). */
  answered = false;
  /** The run of the route's chain that admitted it (its log phases run when it ends); null: the chain has no connection or log phase. */
  readonly admission: UdpSessionAdmission | null;

  constructor(key: string, address: string, port: number, runtime: RouteRuntime, member: Member, upstream: dgram.Socket, now: number, admission: UdpSessionAdmission | null) {
    this.admission = admission;
    this.key = key;
    this.clientAddress = address;
    this.clientPort = port;
    this.routeKey = runtime.route.key;
    this.routeLabel = runtime.label;
    this.startedAt = now;
    this.member = member;
    this.upstream = upstream;
    this.lastActive = now;
  }
}

/** One UDP entry point: its socket, its sessions, and the clients whose session is being decided or was refused. */
class UdpEntry implements UdpAdmissionListener {
  entry: GatewayEntryPoint;
  readonly socket: dgram.Socket;
  readonly sessions = new Map<string, UdpSession>();
  /** Pending or refused (admitted ones move to their session); at most --max-udp-sessions, the oldest dropped first. */
  readonly admissions = new Map<string, UdpSessionAdmission>();
  /** Admissions waiting on a pending phase: they count against the session cap. */
  pending = 0;
  retry: TimerHandle | null = null;
  bound = false;
  closed = false;
  /** Refusals since the last log line, and when it was written. */
  refusedUnlogged = 0;
  refusalLoggedAt = -Infinity;
  readonly #decided: (bound: UdpEntry, admission: UdpSessionAdmission) => void;
  constructor(entry: GatewayEntryPoint, decided: (bound: UdpEntry, admission: UdpSessionAdmission) => void) {
    this.entry = entry;
    this.socket = dgram.createSocket({ type: net.isIPv6(entry.address) ? 'udp6' : 'udp4', reusePort: true });
    this.#decided = decided;
  }

  decided(admission: UdpSessionAdmission): void {
    this.#decided(this, admission);
  }
}

/** Endpoint ids of a runtime's members with weight: a session's endpoint must stay among them. */
const weightedIds = new WeakMap<RouteRuntime, ReadonlySet<string>>();
function servesEndpoint(runtime: RouteRuntime, endpoint: EndpointState): boolean {
  let ids = weightedIds.get(runtime);
  if (ids === undefined) {
    ids = new Set(runtime.members.filter((m) => m.weight > 0).map((m) => m.endpoint.id));
    weightedIds.set(runtime, ids);
  }
  return ids.has(endpoint.id);
}

const idOf = (e: GatewayEntryPoint) => `${e.address}|${e.port}`;

export class GatewayUdpListeners {
  readonly #host: UdpRelayHost;
  readonly #options: UdpRelayOptions;
  readonly #bound = new Map<string, UdpEntry>();
  readonly #datagrams: Record<UdpDatagramResult, Counter.Internal>;
  #stopped = false;

  constructor(host: UdpRelayHost, options: UdpRelayOptions) {
    this.#host = host;
    this.#options = options;
    const d = options.metrics.datagrams;
    const results: UdpDatagramResult[] = ['to_backend', 'to_client', 'no_route', 'no_endpoint', 'session_limit', 'queue_full', 'unreachable', ...UDP_REFUSALS];
    this.#datagrams = Object.fromEntries(results.map((r) => [r, d.labels(r)])) as Record<UdpDatagramResult, Counter.Internal>;
  }

  /** Open sessions, all listeners together. */
  get sessions(): number {
    let n = 0;
    for (const b of this.#bound.values()) n += b.sessions.size;
    return n;
  }

  /** UDP sockets bound now. */
  get listening(): number {
    let n = 0;
    for (const b of this.#bound.values()) if (b.bound) n++;
    return n;
  }

  /** Bind the UDP entry points that are new, close those gone (and their sessions); others get their new listeners. */
  update(points: readonly GatewayEntryPoint[]): void {
    if (this.#stopped) return;
    const wanted = new Map(points.filter((p) => p.protocol === 'UDP').map((p) => [idOf(p), p]));
    for (const [id, bound] of this.#bound) {
      if (wanted.has(id)) continue;
      this.#bound.delete(id);
      this.#close(bound);
    }
    for (const [id, point] of wanted) {
      const bound = this.#bound.get(id);
      if (bound) {
        bound.entry = point;
        continue;
      }
      const fresh = new UdpEntry(point, this.#decided);
      this.#bound.set(id, fresh);
      fresh.socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => this.#fromClient(fresh, msg, rinfo));
      fresh.socket.on('error', (err: NodeJS.ErrnoException) => this.#socketError(fresh, err));
      this.#listen(fresh);
    }
  }

  /** Close every socket and session (shutdown). */
  close(): void {
    this.#stopped = true;
    for (const bound of this.#bound.values()) this.#close(bound);
    this.#bound.clear();
  }

  #listen(bound: UdpEntry): void {
    bound.retry = null;
    bound.socket.bind({ address: bound.entry.address, port: bound.entry.port, exclusive: true }, () => {
      bound.bound = true;
      this.#options.logger.info({ address: bound.entry.address, port: bound.entry.port, protocol: 'UDP' }, 'listening for a Gateway');
    });
  }

  #socketError(bound: UdpEntry, err: NodeJS.ErrnoException): void {
    if (bound.closed) return;
    if (bound.bound) {
      // A send to a client failed (its buffer full, say): that datagram is lost, the socket serves on.
      this.#options.logger.debug({ address: bound.entry.address, port: bound.entry.port, err: err.code ?? err.message }, 'UDP listener error');
      return;
    }
    this.#options.logger.error({ address: bound.entry.address, port: bound.entry.port, err: err.code ?? err.message, retryMs: RETRY_MS },
      'cannot listen on a Gateway address (does this node hold it?); retrying');
    // A dgram socket cannot bind twice: a fresh one takes its place.
    const id = idOf(bound.entry);
    if (this.#bound.get(id) !== bound) return;
    this.#close(bound);
    const fresh = new UdpEntry(bound.entry, this.#decided);
    this.#bound.set(id, fresh);
    fresh.socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => this.#fromClient(fresh, msg, rinfo));
    fresh.socket.on('error', (e: NodeJS.ErrnoException) => this.#socketError(fresh, e));
    fresh.retry = this.#options.clock.setTimeout(() => this.#listen(fresh), RETRY_MS);
    // A retry alone does not keep the process up.
    (fresh.retry as { unref?: () => void }).unref?.();
  }

  #close(bound: UdpEntry): void {
    bound.closed = true;
    if (bound.retry !== null) this.#options.clock.clearTimeout(bound.retry);
    for (const session of bound.sessions.values()) this.#end(bound, session, 'closed');
    for (const admission of bound.admissions.values()) admission.discard();
    bound.admissions.clear();
    bound.pending = 0;
    try { bound.socket.close(); } catch { /* never bound */ }
  }

  #fromClient(bound: UdpEntry, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    const now = this.#options.clock.now();
    const runtime = this.#host.route(bound.entry);
    let session = bound.sessions.get(key);
    // A session lasts while its listener still routes to its endpoint through the same route.
    if (session !== undefined && (runtime === null || runtime.route.key !== session.routeKey || !servesEndpoint(runtime, session.member.endpoint))) {
      this.#end(bound, session, 'route_changed');
      session = undefined;
    }
    if (session === undefined) {
      if (runtime === null) { this.#datagrams.no_route.inc(); return; }
      const known = bound.admissions.get(key);
      if (known !== undefined) {
        // Decided (or being decided) for this runtime of the route, and the client has not been quiet for a session's time: stands.
        if (known.runtime === runtime && now - known.lastSeen < this.#options.idleTimeoutMs) {
          known.lastSeen = now;
          if (known.verdict !== PENDING) this.#datagrams[known.verdict as UdpRefusal].inc();
          else if (known.queued.length >= PENDING_LIMIT) this.#datagrams.queue_full.inc();
          else known.queued.push(msg);
          return;
        }
        this.#forget(bound, known);
      }
      if (bound.sessions.size + bound.pending >= this.#options.maxSessions) { this.#datagrams.session_limit.inc(); return; }
      const chain = runtime.chain;
      if (chain.connection !== null || chain.log !== null) {
        this.#admit(bound, key, rinfo, runtime, msg, now);
        return;
      }
      const opened = this.#openPicked(bound, key, rinfo.address, rinfo.port, runtime, null, now);
      if (opened === null) return;
      session = opened;
    }
    session.lastActive = now;
    if (session.pending !== null) {
      if (session.pending.length >= PENDING_LIMIT) { this.#datagrams.queue_full.inc(); return; }
      session.pending.push(msg);
      return;
    }
    this.#send(bound, session, msg);
  }

  /** A new client: the route's connection phase decides whether its session opens (#decided hears it). */
  #admit(bound: UdpEntry, key: string, rinfo: dgram.RemoteInfo, runtime: RouteRuntime, msg: Buffer, now: number): void {
    const admission = new UdpSessionAdmission(runtime, key, clientAddress(rinfo.address), rinfo.port, bound.entry, now, this.#host.failures, bound);
    admission.queued.push(msg);
    // Bounded like the sessions: a flood of refused addresses forgets the oldest first.
    if (bound.admissions.size >= this.#options.maxSessions) this.#forget(bound, bound.admissions.values().next().value!);
    bound.admissions.set(key, admission);
    bound.pending++;
    admission.decide();
  }

  /** The verdict on a would-be session (at once, or when a pending phase settled). */
  readonly #decided = (bound: UdpEntry, admission: UdpSessionAdmission): void => {
    // A verdict nobody waits for any more (the listener closed, the route changed meanwhile): dropped.
    if (bound.admissions.get(admission.key) !== admission) return;
    bound.pending--;
    const queued = admission.queued.splice(0);
    if (admission.verdict !== ADMITTED) {
      const why = admission.verdict as UdpRefusal;
      this.#datagrams[why].inc(queued.length);
      this.#logRefusal(bound, admission, why);
      return;
    }
    bound.admissions.delete(admission.key);
    const runtime = admission.runtime;
    // The listener may have changed routes while a phase was pending: then this verdict is stale.
    if (bound.closed || this.#host.route(bound.entry) !== runtime) {
      admission.end(0, 'client-closed');
      this.#datagrams.no_route.inc(queued.length);
      return;
    }
    const session = this.#openPicked(bound, admission.key, admission.clientAddress, admission.clientPort, runtime, admission, this.#options.clock.now());
    if (session === null) {
      admission.end(0, 'error');
      return;
    }
    for (const msg of queued) {
      if (session.pending === null) this.#send(bound, session, msg);
      else session.pending.push(msg);
    }
  };

  /** Forget a remembered verdict (or stop waiting for one). */
  #forget(bound: UdpEntry, admission: UdpSessionAdmission): void {
    bound.admissions.delete(admission.key);
    if (admission.verdict === PENDING) bound.pending--;
    admission.discard();
  }

  /** At most one line per listener per interval: a refused flood must not flood the log. */
  #logRefusal(bound: UdpEntry, admission: UdpSessionAdmission, why: UdpRefusal): void {
    const logger = this.#options.logger;
    if (!logger.isLevelEnabled('debug')) return;
    const now = this.#options.clock.now();
    if (now - bound.refusalLoggedAt < REFUSAL_LOG_MS) {
      bound.refusedUnlogged++;
      return;
    }
    const suppressed = bound.refusedUnlogged;
    bound.refusedUnlogged = 0;
    bound.refusalLoggedAt = now;
    logger.debug({ route: admission.runtime.route.key, client: admission.clientAddress, clientPort: admission.clientPort, reason: why, ...(suppressed > 0 ? { suppressed } : {}) },
      'UDP session refused by the route\'s connection phase: its datagrams are dropped');
  }

  /** The endpoint (the route's balancer), then the session; null (counted) when no endpoint takes it. */
  #openPicked(bound: UdpEntry, key: string, address: string, port: number, runtime: RouteRuntime, admission: UdpSessionAdmission | null, now: number): UdpSession | null {
    const member = runtime.balancer.pick(address, now);
    if (member === null) { this.#datagrams.no_endpoint.inc(); return null; }
    if (admission !== null) admission.member = member;
    return this.#open(bound, key, address, port, runtime, member, now, admission);
  }

  #open(bound: UdpEntry, key: string, clientAddress: string, clientPort: number, runtime: RouteRuntime, member: Member, now: number, admission: UdpSessionAdmission | null): UdpSession {
    const { address, port } = member.endpoint;
    const upstream = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
    const session = new UdpSession(key, clientAddress, clientPort, runtime, member, upstream, now, admission);
    bound.sessions.set(key, session);
    this.#options.metrics.sessions.labels('opened').inc();
    this.#options.metrics.active.inc();
    upstream.on('error', (err: NodeJS.ErrnoException) => this.#upstreamError(bound, session, err));
    upstream.on('message', (reply: Buffer) => {
      if (session.closed) return;
      session.lastActive = this.#options.clock.now();
      if (!session.answered) {
        session.answered = true;
        this.#host.recordSuccess(session.member.endpoint);
      }
      this.#datagrams.to_client.inc();
      session.toClient++;
      try {
        bound.socket.send(reply, session.clientPort, session.clientAddress);
      } catch (err) {
        // The listener closed under the answer (a Gateway removed): the session goes with it.
        this.#upstreamError(bound, session, err as NodeJS.ErrnoException);
      }
    });
    // A failed connect comes to this callback, not as an 'error' event.
    upstream.connect(port, address, (err?: Error) => {
      if (session.closed) return;
      if (err) {
        this.#upstreamError(bound, session, err as NodeJS.ErrnoException);
        return;
      }
      const queued = session.pending ?? [];
      session.pending = null;
      for (const msg of queued) this.#send(bound, session, msg);
    });
    this.#arm(bound, session, this.#options.idleTimeoutMs);
    return session;
  }

  #send(bound: UdpEntry, session: UdpSession, msg: Buffer): void {
    this.#datagrams.to_backend.inc();
    session.toBackend++;
    try {
      session.upstream.send(msg, (err) => {
        if (err) this.#upstreamError(bound, session, err as NodeJS.ErrnoException);
      });
    } catch (err) {
      this.#upstreamError(bound, session, err as NodeJS.ErrnoException);
    }
  }

  #upstreamError(bound: UdpEntry, session: UdpSession, err: NodeJS.ErrnoException): void {
    if (session.closed) return;
    const endpoint = session.member.endpoint;
    if (err.code === 'ECONNREFUSED') {
      // Nothing listens on the endpoint's port: the session ends, the endpoint is told about it.
      this.#datagrams.unreachable.inc();
      const runtime = this.#host.route(bound.entry);
      const now = this.#options.clock.now();
      this.#host.recordFailure(endpoint, now, runtime === null || isLastAvailable(runtime.members, endpoint, now));
      this.#options.logger.debug({ endpoint: endpoint.name, client: session.clientAddress }, 'UDP endpoint refused (port unreachable): session closed');
      this.#end(bound, session, 'unreachable');
      return;
    }
    this.#options.logger.debug({ endpoint: endpoint.name, client: session.clientAddress, err: err.code ?? err.message }, 'UDP upstream error: session closed');
    this.#end(bound, session, 'error');
  }

  /** The idle timer: one per session, re-armed for what is left when it fires early (no timer churn per datagram). */
  #arm(bound: UdpEntry, session: UdpSession, ms: number): void {
    session.timer = this.#options.clock.setTimeout(() => {
      session.timer = null;
      if (session.closed) return;
      const idle = this.#options.clock.now() - session.lastActive;
      if (idle >= this.#options.idleTimeoutMs) this.#end(bound, session, 'idle');
      else this.#arm(bound, session, this.#options.idleTimeoutMs - idle);
    }, ms);
  }

  #end(bound: UdpEntry, session: UdpSession, why: UdpSessionEnd): void {
    if (session.closed) return;
    session.closed = true;
    if (session.timer !== null) this.#options.clock.clearTimeout(session.timer);
    session.timer = null;
    session.pending = null;
    if (bound.sessions.get(session.key) === session) bound.sessions.delete(session.key);
    try { session.upstream.close(); } catch { /* already closed */ }
    this.#options.metrics.sessions.labels(`closed_${why}`).inc();
    this.#options.metrics.active.dec();
    session.admission?.end(0, why === 'idle' || why === 'closed' ? 'forwarded' : 'error');
    if (this.#options.accessLog === true) {
      writeAccessLine(this.#options.logger, {
        kind: 'udp', client: session.clientAddress, method: '', host: undefined, path: '', status: 0,
        // Idle, or closed with its listener: the session ran its course; the others were cut.
        outcome: why, completed: why === 'idle' || why === 'closed',
        route: session.routeLabel, endpoint: session.member.endpoint.name, attempts: 1,
        ms: this.#options.clock.now() - session.startedAt, userAgent: undefined,
        datagrams: { toBackend: session.toBackend, toClient: session.toClient },
      });
    }
  }
}
