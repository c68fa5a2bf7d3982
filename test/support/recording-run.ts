// An exchange for the runner alone (no transport): records what the runner reports, so unit
// tests drive src/pipeline/runner.ts and the built-in plugins the way the proxy does.

import type { Socket } from 'node:net';
import type { Member } from '../../src/balance/types.ts';
import { EndpointState } from '../../src/health/endpoint-state.ts';
import { candidatesOf } from '../../src/pipeline/candidates.ts';
import { RouteChain, type ChainEntry } from '../../src/pipeline/chain.ts';
import type { ExchangeKind } from '../../src/pipeline/context.ts';
import { PhaseRun, type ChainOwner } from '../../src/pipeline/phase-run.ts';
import type { RouteInfo } from '../../src/pipeline/types.ts';

export const ROUTE: RouteInfo = Object.freeze({ key: 'Route/ns/r', kind: 'Route', namespace: 'ns', name: 'r', host: 'h.test', path: '', annotations: Object.freeze({}) });

export function members(count = 2): Member[] {
  return Array.from({ length: count }, (_, i) => ({ endpoint: new EndpointState(String.fromCharCode(97 + i), `10.0.0.${i + 1}`, 80), weight: 1, acceptsNew: true }));
}

export function owner(entries: readonly ChainEntry[], options: { timeoutMs?: number; members?: Member[]; route?: RouteInfo; termination?: ChainOwner['termination'] } = {}): ChainOwner {
  const list = options.members ?? members();
  return { chain: new RouteChain(entries, options.timeoutMs ?? 1000), info: options.route ?? ROUTE, members: list, candidates: candidatesOf(list), termination: options.termination ?? null };
}

export interface RunRequest {
  kind?: ExchangeKind;
  clientAddress?: string;
  secure?: boolean;
  method?: string;
  url?: string;
  host?: string;
  headers?: Record<string, string>;
  localPort?: number;
}

export class RecordingRun extends PhaseRun {
  events: string[] = [];
  /** Resolves with the kind of the next report. */
  next!: Promise<string>;
  #resolve!: (v: string) => void;
  retryable = true;

  constructor(chainOwner: ChainOwner, request: RunRequest = {}) {
    const address = request.clientAddress ?? '192.0.2.1';
    const socket = { remoteAddress: address, localPort: request.localPort ?? 80 } as Socket;
    super(request.kind ?? 'http', chainOwner, socket, address, request.secure ?? false, request.method ?? 'GET', request.url ?? '/x',
      request.host ?? 'h.test', { host: request.host ?? 'h.test', ...request.headers }, null);
    this.reset();
  }

  /** Wait for the next report. */
  reset(): void {
    this.next = new Promise((r) => { this.#resolve = r; });
  }

  #report(event: string, kind: string): void {
    this.events.push(event);
    this.#resolve(kind);
  }

  proceed(): void { this.#report('proceed', 'proceed'); }
  answer(): void { this.#report(`answer ${this.answerStatus}`, 'answer'); }
  failed(link: string, error: unknown, timedOut: boolean): void {
    this.#report(`failed ${link} ${timedOut ? 'timeout' : (error as Error).message}`, 'failed');
  }
  responseReady(): void { this.#report('ready', 'ready'); }
  responseFailed(link: string, error: unknown, timedOut: boolean): void {
    this.#report(`response failed ${link} ${timedOut ? 'timeout' : (error as Error).message}`, 'failed');
  }
  failureDone(): void {
    this.#report(`failure done${this.answerStatus !== 0 ? ` answer ${this.answerStatus}` : ''}${this.retryAsked ? ' retry' : ''}${this.retrySame ? ' retry-same' : ''}`, 'done');
  }
  phaseFailed(link: string, error: unknown): void {
    this.events.push(`phase failed ${link} ${(error as Error).message}`);
  }
  canRetry(): boolean {
    return this.retryable;
  }
}
