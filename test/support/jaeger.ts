// A real Jaeger (v2, the OpenTelemetry-collector-based all-in-one, test/tools/jaeger/) for the
// tracing tests: in-memory storage, OTLP receivers (HTTP and gRPC) and the query API, each on
// its own 127.0.0.1 port, nothing else listening. Traces are read back through Jaeger's HTTP
// query API (/api/traces/<id>), the one its UI uses.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as yaml from 'js-yaml';
import { requireTool } from './go-tools.ts';
import { freePort } from './ports.ts';
import { request } from './http-client.ts';

export interface JaegerSpan {
  traceId: string;
  spanId: string;
  /** CHILD_OF reference, null for a root span. */
  parentSpanId: string | null;
  name: string;
  service: string;
  /** server, client, internal… (Jaeger's span.kind tag). */
  kind: string;
  tags: Record<string, unknown>;
  /** Resource attributes of the process that sent it. */
  resource: Record<string, unknown>;
  events: Array<{ name: string; fields: Record<string, unknown> }>;
  /** Microseconds since the epoch. */
  startTime: number;
  duration: number;
}

interface RawTag { key: string; value: unknown }
interface RawSpan {
  traceID: string; spanID: string; operationName: string; processID: string; startTime: number; duration: number;
  references?: Array<{ refType: string; traceID: string; spanID: string }>;
  tags?: RawTag[];
  logs?: Array<{ fields: RawTag[] }>;
}
interface RawTrace { spans: RawSpan[]; processes: Record<string, { serviceName: string; tags?: RawTag[] }> }

const STARTUP_DEADLINE_MS = 60_000;
/** Longest wait for spans to show up in a query (they arrive within the exporters' batch delays). */
const QUERY_DEADLINE_MS = 30_000;

function tagMap(tags: RawTag[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const t of tags ?? []) out[t.key] = t.value;
  return out;
}

export class Jaeger {
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly otlpHttpPort: number;
  readonly otlpGrpcPort: number;
  readonly queryPort: number;
  #stderr = '';
  readonly #exited: Promise<number | null>;

  /** Start Jaeger (throws with how to build it when the binary is missing). */
  static async start(): Promise<Jaeger> {
    const binary = requireTool('jaeger');
    // Ports are chosen free and then handed to Jaeger: another process may take one meanwhile,
    // in which case Jaeger exits and is started again on new ports.
    let lastError: Error | null = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      const ports = { otlpHttp: await freePort(), otlpGrpc: await freePort(), queryHttp: await freePort(), queryGrpc: await freePort() };
      const jaeger = new Jaeger(binary, ports);
      try {
        await jaeger.#ready();
        return jaeger;
      } catch (err) {
        lastError = err as Error;
        await jaeger.stop();
      }
    }
    throw lastError!;
  }

  private constructor(binary: string, ports: { otlpHttp: number; otlpGrpc: number; queryHttp: number; queryGrpc: number }) {
    this.otlpHttpPort = ports.otlpHttp;
    this.otlpGrpcPort = ports.otlpGrpc;
    this.queryPort = ports.queryHttp;
    this.#dir = mkdtempSync(path.join(tmpdir(), 'switchyard-jaeger-'));
    const config = {
      service: {
        extensions: ['jaeger_storage', 'jaeger_query'],
        pipelines: { traces: { receivers: ['otlp'], exporters: ['jaeger_storage_exporter'] } },
        // No self-telemetry: it would listen on a fixed port (8888) shared by every test run.
        telemetry: { metrics: { level: 'none' }, logs: { level: 'warn' } },
      },
      extensions: {
        jaeger_query: {
          storage: { traces: 'memstore' },
          // On by default: Jaeger would trace its own queries to localhost:4317.
          enable_tracing: false,
          http: { endpoint: `127.0.0.1:${ports.queryHttp}` },
          grpc: { endpoint: `127.0.0.1:${ports.queryGrpc}` },
        },
        jaeger_storage: { backends: { memstore: { memory: { max_traces: 100000 } } } },
      },
      receivers: {
        otlp: {
          protocols: {
            grpc: { endpoint: `127.0.0.1:${ports.otlpGrpc}` },
            http: { endpoint: `127.0.0.1:${ports.otlpHttp}` },
          },
        },
      },
      exporters: { jaeger_storage_exporter: { trace_storage: 'memstore' } },
    };
    const file = path.join(this.#dir, 'jaeger.yaml');
    writeFileSync(file, yaml.dump(config));
    this.#child = spawn(binary, ['--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child.stderr!.setEncoding('utf8').on('data', (c: string) => { this.#stderr = (this.#stderr + c).slice(-8000); });
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
  }

  /** http://127.0.0.1:<port>: the OTLP/HTTP base URL (spans go to /v1/traces). */
  get otlpHttpUrl(): string {
    return `http://127.0.0.1:${this.otlpHttpPort}`;
  }

  get otlpGrpcUrl(): string {
    return `http://127.0.0.1:${this.otlpGrpcPort}`;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Resolves once the query API answers and both OTLP ports accept connections. */
  async #ready(): Promise<void> {
    const deadline = Date.now() + STARTUP_DEADLINE_MS;
    let exited = false;
    void this.#exited.then(() => { exited = true; });
    for (;;) {
      if (exited) throw new Error(`jaeger exited during start-up: ${this.#stderr}`);
      const services = await request(this.queryPort, { path: '/api/services' }).catch(() => null);
      if (services?.status === 200 && (await accepts(this.otlpHttpPort)) && (await accepts(this.otlpGrpcPort))) return;
      if (Date.now() > deadline) throw new Error(`jaeger not ready after ${STARTUP_DEADLINE_MS} ms: ${this.#stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The trace's spans as Jaeger stores them now ([] when it knows none). */
  async spans(traceId: string): Promise<JaegerSpan[]> {
    const res = await request(this.queryPort, { path: `/api/traces/${traceId}` });
    if (res.status === 404) return [];
    if (res.status !== 200) throw new Error(`jaeger /api/traces/${traceId}: ${res.status} ${res.body}`);
    const body = JSON.parse(res.body) as { data: RawTrace[] | null };
    const out: JaegerSpan[] = [];
    for (const t of body.data ?? []) {
      for (const s of t.spans) {
        const process = t.processes[s.processID];
        const tags = tagMap(s.tags);
        const parent = s.references?.find((r) => r.refType === 'CHILD_OF');
        out.push({
          traceId: s.traceID.padStart(32, '0'),
          spanId: s.spanID.padStart(16, '0'),
          parentSpanId: parent ? parent.spanID.padStart(16, '0') : null,
          name: s.operationName,
          service: process?.serviceName ?? '',
          kind: String(tags['span.kind'] ?? ''),
          tags,
          resource: tagMap(process?.tags),
          events: (s.logs ?? []).map((l) => { const fields = tagMap(l.fields); return { name: String(fields['event'] ?? ''), fields }; }),
          startTime: s.startTime,
          duration: s.duration,
        });
      }
    }
    return out;
  }

  /** Wait until the trace's spans satisfy `done` (they arrive in batches); returns them. */
  async waitForTrace(traceId: string, done: (spans: JaegerSpan[]) => boolean, deadlineMs = QUERY_DEADLINE_MS): Promise<JaegerSpan[]> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const spans = await this.spans(traceId);
      if (done(spans)) return spans;
      if (Date.now() > deadline) {
        throw new Error(`trace ${traceId}: condition not met within ${deadlineMs} ms; spans: ${JSON.stringify(spans.map((s) => ({ name: s.name, service: s.service, kind: s.kind, id: s.spanId, parent: s.parentSpanId })))}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Trace ids of a service's traces with a span named `operation` (most recent first, at most `limit`). */
  async traceIds(service: string, operation?: string, limit = 100): Promise<string[]> {
    const op = operation === undefined ? '' : `&operation=${encodeURIComponent(operation)}`;
    const res = await request(this.queryPort, { path: `/api/traces?service=${encodeURIComponent(service)}${op}&limit=${limit}&lookback=1h` });
    if (res.status !== 200) return [];
    const body = JSON.parse(res.body) as { data: RawTrace[] | null };
    return (body.data ?? []).map((t) => t.spans[0]!.traceID.padStart(32, '0'));
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
      await this.#exited;
      clearTimeout(timer);
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
