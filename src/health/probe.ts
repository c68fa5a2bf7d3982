// Health probes against one endpoint, for one check: a TCP connect, or an HTTP/1.1 `GET` over
// TLS when the route speaks TLS to its endpoints (reencrypt, passthrough). One Probe object per
// probe loop, started again for every check. Whatever the peer does — refuse, reset, send
// garbage, close mid-headers, never answer — a run ends exactly once, with a verdict and a
// reason. Errors after the verdict are swallowed.
//
// How connections end (they are most of a check's cost, and on loopback the kernel charges both
// ends' work to the prober):
// - A TCP check that connected closes with RST, as HAProxy does for its checks: no FIN
//   exchange and no TIME_WAIT socket left on the router (2,000 checks a second would otherwise
//   keep about 120,000 of them).
// - An HTTP check keeps its connection alive between checks (as Envoy does), through an agent
//   the monitor owns: one idle connection per endpoint, not a connect and close every interval.
//   A kept connection the server closed just as the check was sent fails with a reset on a
//   reused socket: the check is then sent once more, on a fresh connection, within the same
//   timeout.
//
// The probe arms no timer: its owner calls expire() once `deadline` has passed (the monitor
// checks the probes in flight on its schedule's ticks), so a check costs no timer of its own.
// Socket and request events reach the probe through a property on the emitter, so a check
// allocates no closures.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { EndpointState } from './endpoint-state.ts';
import type { StatusExpectation } from './status-expectation.ts';

export const HEALTH_CHECK_USER_AGENT = 'switchyard-health-check';

/** Called once per run, with the context the probe was made with. */
export type ProbeVerdict<C> = (context: C, healthy: boolean, reason: string) => void;

/** What to check, shared by every endpoint checked the same way (the monitor makes one per distinct check). */
export interface ProbeCheck {
  readonly type: 'tcp' | 'http';
  /** http only: request path, starting with `/`. */
  readonly path: string;
  readonly timeoutMs: number;
  readonly expect: StatusExpectation;
  /** http only: speak TLS (see HealthCheckSpec.tls); `ca` already resolved, null = Node's roots. */
  readonly tls?: { readonly servername: string; readonly ca: string | null; readonly verify: boolean };
}

/** Keep-alive agents for HTTP checks, one per scheme; owned (and destroyed) by the monitor. */
export interface ProbeAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

/** An idle kept-alive check connection is closed after this long (or sooner if the server's `Keep-Alive: timeout` says so). */
const KEEP_ALIVE_IDLE_MS = 60_000;

export function createProbeAgents(): ProbeAgents {
  // maxFreeSockets is per endpoint (the agent pools by host, port and TLS options).
  // keepAliveMsecs is the TCP keep-alive delay of idle sockets (Node's default, 1 s, would send a
  // keep-alive probe on every connection between any two checks): the checks themselves show
  // the connection is alive.
  const options = { keepAlive: true, keepAliveMsecs: KEEP_ALIVE_IDLE_MS, timeout: KEEP_ALIVE_IDLE_MS, maxFreeSockets: 4 };
  return { http: new http.Agent(options), https: new https.Agent(options) };
}

const kProbe = Symbol('probe');

interface ProbeSocket extends net.Socket { [kProbe]: Probe<unknown> }
interface ProbeRequest extends http.ClientRequest { [kProbe]: Probe<unknown> }

export class Probe<C> {
  readonly endpoint: EndpointState;
  readonly check: ProbeCheck;
  /** When the run began: start(now)'s `now` (ms, on the owner's clock). */
  startedAt = 0;
  /** When a run started with start(now) must have ended (ms, on the owner's clock). */
  deadline = 0;
  readonly #onVerdict: ProbeVerdict<C>;
  readonly #context: C;
  #running = false;
  /** The run's TCP socket (tcp checks). */
  #socket: net.Socket | null = null;
  /** The run's request (http checks); still set after the verdict while its body drains. */
  #request: http.ClientRequest | null = null;
  /** The request was sent again on a fresh connection after a reused one failed. */
  #retried = false;
  readonly #requestOptions: http.RequestOptions | null = null;
  readonly #agent: http.Agent | null = null;  // http checks only
  readonly #httpRequest: typeof http.request = http.request;

  constructor(endpoint: EndpointState, check: ProbeCheck, onVerdict: ProbeVerdict<C>, context: C, agents: ProbeAgents) {
    this.endpoint = endpoint;
    this.check = check;
    this.#onVerdict = onVerdict;
    this.#context = context;
    const { path, tls } = check;
    if (check.type === 'tcp') return;
    this.#agent = tls === undefined ? agents.http : agents.https;
    if (tls !== undefined) this.#httpRequest = https.request;
    this.#requestOptions = {
      ...(tls === undefined ? {} : { servername: tls.servername, ca: tls.ca ?? undefined, rejectUnauthorized: tls.verify }),
      host: endpoint.address,
      port: endpoint.port,
      method: 'GET',
      path,
      agent: this.#agent,
      setHost: false,
      headers: { Host: endpoint.name, 'User-Agent': HEALTH_CHECK_USER_AGENT },
    };
  }

  get running(): boolean {
    return this.#running;
  }

  /** Start a run; its verdict comes later, never from inside start(). A probe runs once at a time. */
  start(now: number): void {
    if (this.#running) throw new Error('probe already running');
    this.#running = true;
    this.#retried = false;
    this.startedAt = now;
    this.deadline = now + this.check.timeoutMs;
    try {
      if (this.check.type === 'tcp') this.#connect();
      else this.#send();
    } catch (err) {
      // e.g. a path http.request refuses; reported on the next tick so the verdict never runs
      // inside start(), before the caller has finished its own bookkeeping
      process.nextTick(finishProbe, this, false, `cannot send the check: ${(err as Error).message}`);
    }
  }

  /** The deadline has passed: a failed check. */
  expire(): void {
    this.finish(false, `no answer within ${this.check.timeoutMs} ms`);
  }

  /** Stop the run now (monitor stopping, endpoint gone). */
  abort(): void {
    this.finish(false, 'aborted');
  }

  /**
   * End the run with a verdict (no-op when none is running). `keepConnection`: an HTTP response
   * was read, whatever its status, so its connection may serve the next check; after an error,
   * a timeout or an abort the connection's state is unknown and it is closed.
   */
  finish(healthy: boolean, reason: string, keepConnection = false): void {
    if (!this.#running) return;
    this.#running = false;
    this.#socket?.destroy();
    this.#socket = null;
    if (!keepConnection) this.#dropRequest();
    this.#onVerdict(this.#context, healthy, reason);
  }

  /** Release what the probe holds: its request and the idle connections kept for it. */
  close(): void {
    this.abort();
    this.#dropRequest();
    if (this.#agent !== null && this.#requestOptions !== null) {
      const free = this.#agent.freeSockets[this.#agent.getName(this.#requestOptions)];
      for (const socket of free ?? []) socket.destroy();
    }
  }

  #connect(): void {
    // Options made per check rather than kept per endpoint: a connect costs far more than they do.
    const socket = net.connect(this.endpoint.port, this.endpoint.address) as ProbeSocket;
    socket[kProbe] = this as Probe<unknown>;
    this.#socket = socket;
    socket.on('error', onTcpError);
    socket.once('connect', onTcpConnect);
  }

  #send(): void {
    // A response body still draining from the previous run (a slow or endless body): give up
    // on that connection rather than pile up connections behind it.
    this.#dropRequest();
    const request = this.#httpRequest(this.#requestOptions!) as ProbeRequest;
    request[kProbe] = this as Probe<unknown>;
    this.#request = request;
    request.on('error', onHttpError);
    request.once('response', onHttpResponse);
    request.end();
  }

  #dropRequest(): void {
    const request = this.#request;
    this.#request = null;
    request?.destroy();
  }

  /** Event handlers below: is `emitter` this run's socket or request (not a previous run's)? */
  isCurrent(emitter: unknown): boolean {
    return this.#running && (emitter === this.#socket || emitter === this.#request);
  }

  /** A request on a reused connection failed before any response: send it once more (the agent has dropped that connection). */
  retryOnFreshConnection(request: http.ClientRequest): boolean {
    if (this.#retried || !request.reusedSocket) return false;
    this.#retried = true;
    this.#request = null;
    try {
      this.#send();
    } catch (err) {
      this.finish(false, `cannot send the check: ${(err as Error).message}`);
    }
    return true;
  }

  /** The response has been read to its end: its connection went back to the agent. */
  released(request: http.ClientRequest): void {
    if (this.#request === request) this.#request = null;
  }
}

function finishProbe(probe: Probe<unknown>, healthy: boolean, reason: string): void {
  probe.finish(healthy, reason);
}

function onTcpError(this: ProbeSocket, err: NodeJS.ErrnoException): void {
  const probe = this[kProbe];
  if (probe.isCurrent(this)) probe.finish(false, err.code ?? err.message);
}

function onTcpConnect(this: ProbeSocket): void {
  const probe = this[kProbe];
  if (!probe.isCurrent(this)) return;
  this.resetAndDestroy();
  probe.finish(true, 'connected');
}

function onHttpError(this: ProbeRequest, err: NodeJS.ErrnoException): void {
  const probe = this[kProbe];
  if (!probe.isCurrent(this)) return;
  if (probe.retryOnFreshConnection(this)) return;
  probe.finish(false, err.code ?? err.message);
}

function onHttpResponse(this: ProbeRequest, response: http.IncomingMessage): void {
  const probe = this[kProbe];
  response.on('error', ignore); // a body cut short after the verdict is nobody's concern
  if (!probe.isCurrent(this)) {
    response.destroy();
    return;
  }
  // Read the body to its end so the connection goes back to the agent for the next check.
  response.once('end', onHttpBodyEnd);
  response.resume();
  const status = response.statusCode ?? 0;
  const expect = probe.check.expect;
  if (expect.matches(status)) probe.finish(true, `HTTP ${status}`, true);
  else probe.finish(false, `HTTP ${status}, expected ${expect.text}`, true);
}

function onHttpBodyEnd(this: http.IncomingMessage): void {
  const request = (this as http.IncomingMessage & { req: ProbeRequest }).req; // set by Node on client responses
  request[kProbe].released(request);
}

function ignore(): void {}
