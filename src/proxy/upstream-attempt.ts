// One upstream attempt of an exchange, and the forwarders that make them. An exchange makes one
// attempt per endpoint it tries (a retry is a sibling attempt); the forwarder is chosen per way
// in and backend protocol (HTTP/1.1 through undici today; an HTTP/2 forwarder plugs in beside
// it) and reports what the backend does through UpstreamEvents — the exchange's side.

import type { Duplex } from 'node:stream';
import type { Member } from '../balance/types.ts';

export type UpstreamHeaders = Record<string, string | string[] | undefined>;

export interface UpstreamAttempt {
  /** The member this attempt went to. */
  readonly member: Member;
  /** 1 for the first attempt of the exchange. */
  readonly number: number;
  readonly startedAt: number;
  /** Send the request (or open the connection). Failures, even synchronous ones, arrive as failed(). */
  start(): void;
  /** Stop reading the response (backpressure); resume() reads on. */
  pause(): void;
  resume(): void;
  /** Give up: nothing more is reported for this attempt. */
  abort(reason: Error): void;
}

/** What an attempt reports; a report from an attempt the exchange no longer follows is ignored. */
export interface UpstreamEvents {
  /** The response head (status ≥ 100: 1xx interim responses come here too). */
  upstreamHead(attempt: UpstreamAttempt, status: number, headers: UpstreamHeaders, reason: string | undefined): void;
  upstreamData(attempt: UpstreamAttempt, chunk: Buffer): void;
  /** The response is complete; `trailers` as received (possibly empty). */
  upstreamEnd(attempt: UpstreamAttempt, trailers: UpstreamHeaders | null): void;
  /** The backend switched protocols (101), or a raw connection is open: `socket` is the upstream side of the tunnel. */
  upstreamOpen(attempt: UpstreamAttempt, status: number, headers: UpstreamHeaders, socket: Duplex): void;
  /** The attempt failed (connect, reset, timeout, invalid response, or the exchange's own abort). */
  attemptFailed(attempt: UpstreamAttempt, error: unknown): void;
}

export interface Forwarder<X extends UpstreamEvents = UpstreamEvents> {
  /** An attempt of `exchange` to `member`, not started yet. */
  attempt(exchange: X, member: Member, number: number): UpstreamAttempt;
}
