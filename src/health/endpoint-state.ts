// The live state of one backend endpoint (address:port), shared by every route that uses it:
// the balancers read it, the active health monitor and passive ejection write it, and the
// forwarder keeps its connection pool on it. One object per distinct endpoint, so a pod
// behind three routes is probed once and pooled once.

import type { Dispatcher } from 'undici';

export class EndpointState {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** `address:port`, IPv6 bracketed — the metrics label and log name. */
  readonly name: string;
  /** In-flight requests and tunnels (leastconn, power-of-two choices). */
  active = 0;
  /** Verdict of the active health check; true until a check says otherwise. */
  activeUp = true;
  /** Passive ejection: not picked before this time (ms since epoch). 0 = not ejected. */
  ejectedUntil = 0;
  /** When the latest passive ejection began (ms since epoch; 0 = never): only an active check started after it may end it early. */
  ejectedAt = 0;
  /** Consecutive failures seen by passive checking. */
  consecutiveFailures = 0;
  /** How many times in a row it has been ejected (grows the backoff). */
  ejections = 0;
  /** Connection pool, created lazily by the forwarder. */
  pool: Dispatcher | null = null;
  /** Cleartext HTTP/2 pool (routes whose backend speaks HTTP/2), created lazily by the forwarder. */
  h2Pool: { close(): Promise<void>; destroy(): Promise<void> } | null = null;
  /** Routes referencing it; the registry disposes of it when this drops to 0. */
  refs = 0;

  constructor(id: string, address: string, port: number) {
    this.id = id;
    this.address = address;
    this.port = port;
    this.name = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  }

  /** Can take new requests now: healthy by the active check and not passively ejected. */
  available(now: number): boolean {
    return this.activeUp && this.ejectedUntil <= now;
  }
}
