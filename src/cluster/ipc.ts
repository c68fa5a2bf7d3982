// The primary ↔ worker protocol (node:cluster IPC). The primary owns sources, reconciler, health
// checks, status and the admin port; workers own the proxy listeners. Everything a worker needs
// to route travels as plain data: table deltas and endpoint health verdicts.

import type { TableDelta } from '../table/types.ts';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

export type PrimaryMessage =
  /** First message: the default certificate (so every worker serves the same one). */
  | { t: 'init'; defaultCertificate: { cert: string; key: string } | null; ticketKeys: string }
  /** New TLS session ticket keys (base64), rotated by the primary so every worker shares them. */
  | { t: 'ticket-keys'; keys: string }
  | { t: 'table'; delta: TableDelta }
  /** Active check verdict changed. */
  | { t: 'health'; id: string; up: boolean }
  /** An active probe passed: ends a passive ejection that started before it. */
  | { t: 'probe-pass'; id: string; startedAt: number }
  | { t: 'metrics-request'; requestId: number }
  | { t: 'drain'; timeoutMs: number };

export type WorkerMessage =
  | { t: 'listening'; http: number; https: number }
  | { t: 'metrics'; requestId: number; metrics: MetricsJson }
  | { t: 'fatal'; message: string };

export function isMessage<T extends { t: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}
