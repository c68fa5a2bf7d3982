// The primary ↔ worker protocol (node:cluster IPC; each worker binds the proxy ports itself). The primary owns sources, reconciler, health
// checks, status and the admin port; workers own the proxy listeners. Everything a worker needs
// to route travels as plain data: table deltas and endpoint health verdicts.

import type { TableDelta } from '../table/types.ts';
import type { DrainDeadlines } from '../proxy/serving.ts';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

export type PrimaryMessage =
  /**
   * First message: the ports to bind (0 only for the first worker; the others bind the ports it
   * got) and the default certificate (so every worker serves the same one).
   */
  | { t: 'init'; ports: { http: number; https: number }; defaultCertificate: { cert: string; key: string } | null; ticketKeys: string }
  /** The default certificate changed (reloaded from --default-certificate-dir). */
  | { t: 'default-certificate'; certificate: { cert: string; key: string } }
  /** New TLS session ticket keys (base64), rotated by the primary so every worker shares them. */
  | { t: 'ticket-keys'; keys: string }
  | { t: 'table'; delta: TableDelta }
  /** Active check verdict changed. */
  | { t: 'health'; id: string; up: boolean }
  /** An active probe passed: ends a passive ejection that started before it. */
  | { t: 'probe-pass'; id: string; startedAt: number }
  | { t: 'metrics-request'; requestId: number }
  | { t: 'drain'; deadlines: DrainDeadlines };

export type WorkerMessage =
  | { t: 'listening'; http: number; https: number }
  | { t: 'metrics'; requestId: number; metrics: MetricsJson }
  | { t: 'fatal'; message: string };

export function isMessage<T extends { t: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}
