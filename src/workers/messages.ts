// What the main thread and the proxy worker threads (`--workers N`) say to each other. The main
// thread owns sources, reconciler, health checks, status and the admin port; each worker thread
// owns proxy listeners of its own (SO_REUSEPORT). Routing data travels as plain data: table
// deltas, structured-cloned by postMessage, so an object many routes share (a Middleware's
// compiled config) arrives once and stays shared. The state every thread must agree on at
// request time — endpoint health, in-flight counts, rate limits, concurrency slots — lives in
// shared memory (src/shared-memory/), not in messages.

import type { TableDelta } from '../table/types.ts';
import type { DrainDeadlines } from '../proxy/serving.ts';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

export type MainMessage =
  /**
   * First message: the ports to bind (0 only for the first worker; the others bind the ports it
   * got) and the default certificate (so every worker serves the same one).
   */
  | { t: 'init'; ports: { http: number; https: number }; defaultCertificate: { cert: string; key: string } | null; ticketKeys: string }
  /** The default certificate changed (reloaded from --default-certificate-dir). */
  | { t: 'default-certificate'; certificate: { cert: string; key: string } }
  /** New TLS session ticket keys (base64), rotated by the main thread so every worker shares them. */
  | { t: 'ticket-keys'; keys: string }
  | { t: 'table'; delta: TableDelta }
  | { t: 'metrics-request'; requestId: number }
  | { t: 'drain'; deadlines: DrainDeadlines };

export type WorkerMessage =
  | { t: 'listening'; http: number; https: number }
  | { t: 'metrics'; requestId: number; metrics: MetricsJson }
  | { t: 'fatal'; message: string };

export function isMessage<T extends { t: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}
