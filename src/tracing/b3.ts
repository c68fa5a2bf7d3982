// B3 (https://github.com/openzipkin/b3-propagation), for Zipkin-era backends: the single `b3`
// header (`{trace}-{span}[-{sampling}[-{parent}]]`) and the multi-header form (`X-B3-TraceId`,
// `X-B3-SpanId`, `X-B3-Sampled`, `X-B3-Flags`, `X-B3-ParentSpanId`). Off unless configured
// (--trace-propagators). A 64-bit trace id is widened to 128 bits with leading zeros, as
// OpenTelemetry does; sampling state `d` (debug) and `X-B3-Flags: 1` mean sampled; a context
// without a sampling state is continued as not sampled (parent-based sampling then keeps it so).

import { SAMPLED_FLAG } from './trace-context.ts';

export interface B3Context { traceId: string; spanId: string; traceFlags: number }

export const B3_SINGLE = 'b3';
export const B3_MULTI = ['x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'] as const;

const HEX_ID = /^(?:[0-9a-f]{16}){1,2}$/;
const ZERO = /^0+$/;

function traceIdOf(text: string | undefined): string | null {
  if (text === undefined || !HEX_ID.test(text) || ZERO.test(text)) return null;
  return text.length === 16 ? `0000000000000000${text}` : text;
}

function spanIdOf(text: string | undefined): string | null {
  if (text === undefined || text.length !== 16 || !HEX_ID.test(text) || ZERO.test(text)) return null;
  return text;
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value.trim().toLowerCase() : undefined;
}

/** The `b3` header, or null (absent, invalid, or only a sampling state). */
export function parseB3Single(value: string | string[] | undefined): B3Context | null {
  const text = single(value);
  if (text === undefined) return null;
  const parts = text.split('-');
  if (parts.length < 2 || parts.length > 4) return null;
  const traceId = traceIdOf(parts[0]);
  const spanId = spanIdOf(parts[1]);
  if (traceId === null || spanId === null) return null;
  const sampling = parts[2];
  if (sampling !== undefined && sampling !== '0' && sampling !== '1' && sampling !== 'd') return null;
  if (parts[3] !== undefined && spanIdOf(parts[3]) === null) return null;
  return { traceId, spanId, traceFlags: sampling === '1' || sampling === 'd' ? SAMPLED_FLAG : 0 };
}

/** The X-B3-* headers, or null (absent or invalid). */
export function parseB3Multi(headers: Readonly<Record<string, string | string[] | undefined>>): B3Context | null {
  const traceId = traceIdOf(single(headers['x-b3-traceid']));
  const spanId = spanIdOf(single(headers['x-b3-spanid']));
  if (traceId === null || spanId === null) return null;
  const sampled = single(headers['x-b3-sampled']);
  const debug = single(headers['x-b3-flags']) === '1';
  return { traceId, spanId, traceFlags: debug || sampled === '1' || sampled === 'true' ? SAMPLED_FLAG : 0 };
}

export function formatB3Single(traceId: string, spanId: string, traceFlags: number): string {
  return `${traceId}-${spanId}-${(traceFlags & SAMPLED_FLAG) !== 0 ? '1' : '0'}`;
}
