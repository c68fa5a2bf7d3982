// Which trace-context formats the router reads from requests and writes upstream
// (--trace-propagators, OTEL_PROPAGATORS): W3C `tracecontext` by default, B3 single (`b3`) or
// multi-header (`b3multi`) on request. `baggage` is accepted for compatibility with the usual
// OTEL_PROPAGATORS value and changes nothing: the router never reads or rewrites `baggage`, it
// travels upstream as any header. Extraction takes the first listed format present and valid in
// the request; injection writes every listed format, after removing what the client sent in them
// (an upstream never sees the client's span as its parent next to the router's).

import type { IncomingHttpHeaders } from 'node:http';
import { B3_MULTI, B3_SINGLE, formatB3Single, parseB3Multi, parseB3Single } from './b3.ts';
import { formatTraceparent, parseTraceparent, parseTracestate, SAMPLED_FLAG, type RemoteParent } from './trace-context.ts';
import type { TraceState } from '@opentelemetry/api';
import type { PropagatorName } from './tracing-settings.ts';


type Format = 'tracecontext' | 'b3' | 'b3multi';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';

export class Propagation {
  readonly #formats: readonly Format[];
  /** Request headers the router owns when it traces an exchange (lowercase), removed upstream before injection. */
  readonly headerNames: readonly string[];

  constructor(names: readonly PropagatorName[]) {
    const formats: Format[] = [];
    for (const name of names) {
      if ((name === 'tracecontext' || name === 'b3' || name === 'b3multi') && !formats.includes(name)) formats.push(name);
    }
    this.#formats = formats;
    const headers: string[] = [];
    for (const format of formats) {
      if (format === 'tracecontext') headers.push(TRACEPARENT, TRACESTATE);
      else if (format === 'b3') headers.push(B3_SINGLE);
      else headers.push(...B3_MULTI);
    }
    this.headerNames = headers;
  }

  /** The incoming trace context (the first configured format the request carries validly), or null. */
  extract(headers: IncomingHttpHeaders): RemoteParent | null {
    for (const format of this.#formats) {
      if (format === 'tracecontext') {
        const parent = parseTraceparent(headers[TRACEPARENT]);
        if (parent !== null) {
          // The spec: a tracestate is read only beside a valid traceparent.
          return { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.traceFlags, isRemote: true, traceState: parseTracestate(headers[TRACESTATE]) ?? undefined };
        }
      } else {
        const b3 = format === 'b3' ? parseB3Single(headers[B3_SINGLE]) : parseB3Multi(headers);
        if (b3 !== null) return { traceId: b3.traceId, spanId: b3.spanId, traceFlags: b3.traceFlags, isRemote: true, traceState: undefined };
      }
    }
    return null;
  }

  /** The request carries a header of a configured format (valid or not): the upstream copy must lose it. */
  present(headers: IncomingHttpHeaders): boolean {
    for (const name of this.headerNames) if (headers[name] !== undefined) return true;
    return false;
  }

  /** Append the router's context, in every configured format, to a flat [name, value, …] header list. */
  inject(list: string[], traceId: string, spanId: string, traceFlags: number, traceState: TraceState | undefined): void {
    for (const format of this.#formats) {
      if (format === 'tracecontext') {
        list.push(TRACEPARENT, formatTraceparent(traceId, spanId, traceFlags));
        const state = traceState?.serialize();
        if (state) list.push(TRACESTATE, state);
      } else if (format === 'b3') {
        list.push(B3_SINGLE, formatB3Single(traceId, spanId, traceFlags));
      } else {
        list.push('x-b3-traceid', traceId, 'x-b3-spanid', spanId, 'x-b3-sampled', (traceFlags & SAMPLED_FLAG) !== 0 ? '1' : '0');
      }
    }
  }

  /** Remove the headers this router injects from a flat [name, value, …] list (lowercase names). */
  strip(list: string[]): void {
    const names = this.headerNames;
    let w = 0;
    for (let i = 0; i < list.length; i += 2) {
      if (names.includes(list[i]!)) continue;
      list[w++] = list[i]!;
      list[w++] = list[i + 1]!;
    }
    list.length = w;
  }

  get enabled(): boolean {
    return this.#formats.length > 0;
  }
}
