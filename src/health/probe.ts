// One health probe against one endpoint: a TCP connect, or an HTTP/1.1 `GET` on a fresh
// connection (agent: false, Connection: close), over TLS when the route speaks TLS to its
// endpoints (reencrypt, passthrough). Whatever the peer does — refuse, reset, send
// garbage, close mid-headers, never answer — the probe ends exactly once, with a verdict and a
// reason, and its socket is destroyed. Errors after the verdict are swallowed.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { EndpointState } from './endpoint-state.ts';
import type { StatusExpectation } from './status-expectation.ts';

export const HEALTH_CHECK_USER_AGENT = 'switchyard-health-check';

export type ProbeVerdict = (healthy: boolean, reason: string) => void;

export interface ProbeTarget {
  readonly endpoint: EndpointState;
  readonly type: 'tcp' | 'http';
  /** http only: request path, starting with `/`. */
  readonly path: string;
  readonly timeoutMs: number;
  readonly expect: StatusExpectation;
  /** http only: speak TLS (see HealthCheckSpec.tls); `ca` already resolved, null = Node's roots. */
  readonly tls?: { readonly servername: string; readonly ca: string | null; readonly verify: boolean };
}

export class Probe {
  #verdict: ProbeVerdict | null;
  #timer: TimerHandle | null = null;
  readonly #clock: Clock;
  #socket: net.Socket | null = null;
  #request: http.ClientRequest | null = null;
  readonly #target: ProbeTarget;

  /** Starts at once; `verdict` is called exactly once (also when aborted), never from inside the constructor. */
  constructor(target: ProbeTarget, verdict: ProbeVerdict, clock: Clock = systemClock) {
    this.#target = target;
    this.#verdict = verdict;
    this.#clock = clock;
    this.#timer = clock.setTimeout(onProbeTimeout, target.timeoutMs, this);
    try {
      if (target.type === 'http') this.#startHttp();
      else this.#startTcp();
    } catch (err) {
      // e.g. a path with characters http.request refuses; reported on the next tick so the
      // verdict never runs inside the constructor, before the caller holds the probe
      process.nextTick(finishProbe, this, false, `cannot send the check: ${(err as Error).message}`);
    }
  }

  /** Stop now (monitor stopping, endpoint gone). */
  abort(): void {
    this.finish(false, 'aborted');
  }

  finish(healthy: boolean, reason: string): void {
    const verdict = this.#verdict;
    if (verdict === null) return;
    this.#verdict = null;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#request?.destroy();
    this.#socket?.destroy();
    verdict(healthy, reason);
  }

  #startTcp(): void {
    const { endpoint } = this.#target;
    const socket = net.connect({ host: endpoint.address, port: endpoint.port });
    this.#socket = socket;
    socket.on('error', onSocketError.bind(this));
    socket.once('connect', onTcpConnect.bind(this));
  }

  #startHttp(): void {
    const { endpoint, path, tls } = this.#target;
    const request = (tls === undefined ? http : https).request({
      ...(tls === undefined ? {} : { servername: tls.servername, ca: tls.ca ?? undefined, rejectUnauthorized: tls.verify }),
      host: endpoint.address,
      port: endpoint.port,
      method: 'GET',
      path,
      agent: false,
      setHost: false,
      headers: { Host: endpoint.name, Connection: 'close', 'User-Agent': HEALTH_CHECK_USER_AGENT },
    });
    this.#request = request;
    request.on('error', onSocketError.bind(this));
    request.once('response', onHttpResponse.bind(this));
    request.end();
  }

  get target(): ProbeTarget {
    return this.#target;
  }
}

function finishProbe(probe: Probe, healthy: boolean, reason: string): void {
  probe.finish(healthy, reason);
}

function onProbeTimeout(probe: Probe): void {
  probe.finish(false, `no answer within ${probe.target.timeoutMs} ms`);
}

function onSocketError(this: Probe, err: NodeJS.ErrnoException): void {
  this.finish(false, err.code ?? err.message);
}

function onTcpConnect(this: Probe): void {
  this.finish(true, 'connected');
}

function onHttpResponse(this: Probe, response: http.IncomingMessage): void {
  response.on('error', ignore); // destroying the request below aborts the body
  const status = response.statusCode ?? 0;
  const expect = this.target.expect;
  if (expect.matches(status)) this.finish(true, `HTTP ${status}`);
  else this.finish(false, `HTTP ${status}, expected ${expect.text}`);
  response.destroy();
}

function ignore(): void {}
