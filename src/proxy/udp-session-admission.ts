// The connection phase of a UDP session about to open (a Gateway UDP listener, UDPRoute): the
// route's chain runs its connection links — router-wide Middlewares' connection checks, the
// share of invalid backendRefs — through the same runner as a TCPRoute's or a TLS passthrough
// connection (pipeline/runner.ts), with the client's address and port as the connection's peer.
// What a phase decided is the verdict: admitted (the session opens), or refused with a reason
// (the catalogue error a built-in answered with, `refused` for a plugin's own answer,
// `plugin_error` for a phase that threw, rejected or did not settle: counted and logged as on
// every way in, never thrown out of the listener). UDP has no answer to write: a refused client's
// datagrams are dropped. The log phases run once, when the session ends (or at once when it was
// refused), so a plugin holding state for the "connection" (a rate limit's concurrency slot)
// gets it back.

import type { Socket } from 'node:net';
import { ProxyErrors, type ProxyErrorSpec } from '../errors.ts';
import type { Outcome } from '../pipeline/context.ts';
import { PhaseRun, STAGE_CONNECTION, type ChainOwner } from '../pipeline/phase-run.ts';
import { abandon, runLogPhases, runPhases } from '../pipeline/runner.ts';
import type { MiddlewareFailures } from './middleware-failures.ts';
import type { RouteRuntime } from './route-runtime.ts';

/** Why a session was refused (switchyard_udp_datagrams_total{result}). */
export type UdpRefusal = 'forbidden' | 'rate_limited' | 'middleware_invalid' | 'invalid_backend' | 'refused' | 'plugin_error';
export const UDP_REFUSALS: readonly UdpRefusal[] = ['forbidden', 'rate_limited', 'middleware_invalid', 'invalid_backend', 'refused', 'plugin_error'];

const BY_CODE: ReadonlyMap<string, UdpRefusal> = new Map([
  [ProxyErrors.FORBIDDEN.code, 'forbidden'],
  [ProxyErrors.RATE_LIMITED.code, 'rate_limited'],
  [ProxyErrors.MIDDLEWARE_INVALID.code, 'middleware_invalid'],
  [ProxyErrors.INVALID_BACKEND.code, 'invalid_backend'],
]);

function refusalOf(error: ProxyErrorSpec | null): UdpRefusal {
  return error === null ? 'refused' : BY_CODE.get(error.code) ?? 'refused';
}

/**
 * The session's stand-in for a client connection: what the connection phase may read of one
 * (the peer's address and port, the listener's). One object per would-be session, so a plugin
 * that remembers connections it has counted (rate-tcp) counts each session once.
 */
class UdpPeer {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly encrypted = false;
  constructor(address: string, port: number, localAddress: string, localPort: number) {
    this.remoteAddress = address;
    this.remotePort = port;
    this.remoteFamily = address.includes(':') ? 'IPv6' : 'IPv4';
    this.localAddress = localAddress;
    this.localPort = localPort;
  }
}

export const PENDING = 'pending';
export const ADMITTED = 'admitted';
export type UdpVerdict = typeof PENDING | typeof ADMITTED | UdpRefusal;

/** What the listener hears: the verdict is in (synchronously from decide(), or when a pending phase settles). */
export interface UdpAdmissionListener {
  decided(admission: UdpSessionAdmission): void;
}

export class UdpSessionAdmission extends PhaseRun {
  readonly runtime: RouteRuntime;
  /** The listener's key of the client: `address|port`. */
  readonly key: string;
  readonly clientPort: number;
  verdict: UdpVerdict = PENDING;
  /** The client's datagrams that came while a phase was pending (sent on once admitted). */
  readonly queued: Buffer[] = [];
  /** The last datagram of the client (a refusal is remembered while the client keeps sending). */
  lastSeen: number;
  readonly #failures: MiddlewareFailures;
  readonly #listener: UdpAdmissionListener;
  #ended = false;

  constructor(
    runtime: RouteRuntime, key: string, client: string, clientPort: number, local: { address: string; port: number },
    now: number, failures: MiddlewareFailures, listener: UdpAdmissionListener,
  ) {
    super('passthrough', runtime as ChainOwner, new UdpPeer(client, clientPort, local.address, local.port) as unknown as Socket, client, false, '', '', '', {}, null);
    this.runtime = runtime;
    this.key = key;
    this.clientPort = clientPort;
    this.lastSeen = now;
    this.#failures = failures;
    this.#listener = listener;
    // The connection stage only: a UDPRoute's endpoint is chosen by its balancer when the session opens.
    this.lastStage = STAGE_CONNECTION;
  }

  /** Run the connection phases; the listener hears the verdict. */
  decide(): void {
    runPhases(this);
  }

  proceed(): void {
    this.#decide(ADMITTED);
  }

  answer(): void {
    this.#decide(refusalOf(this.answerError));
  }

  failed(link: string, error: unknown, timedOut: boolean): void {
    const spec = this.#failures.record(this.owner.info.key, link, error, timedOut);
    this.answerStatus = spec.status;
    this.#decide('plugin_error');
  }

  #decide(verdict: UdpVerdict): void {
    if (this.verdict !== PENDING) return;
    this.verdict = verdict;
    if (verdict !== ADMITTED) this.end(this.answerStatus, verdict === 'plugin_error' ? 'error' : 'answered');
    this.#listener.decided(this);
  }

  /** The listener no longer waits for the verdict (closed, the route changed, the client gone quiet): a pending phase no longer counts. */
  discard(): void {
    if (this.verdict === PENDING) {
      abandon(this);
      this.verdict = 'refused';
      this.end(0, 'client-closed');
    }
  }

  /** The session ended (or was refused): the log phases run, once. */
  end(status: number, outcome: Outcome): void {
    if (this.#ended) return;
    this.#ended = true;
    this.status = status;
    this.outcome = outcome;
    this.durationMs = performance.now() - this.startedAt;
    if (this.chain.log !== null) runLogPhases(this);
  }

  // Only the connection stage runs: no response, failure or retry on this way in.
  responseReady(): void {}
  responseFailed(): void {}
  failureDone(): void {}
  canRetry(): boolean {
    return false;
  }

  phaseFailed(link: string, error: unknown): void {
    this.#failures.record(this.owner.info.key, link, error, false);
  }
}
