// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate`
// request headers, read and written as the Recommendation says. A traceparent that breaks any
// rule is ignored (a new trace starts) and its tracestate with it; a tracestate that breaks any
// rule is dropped whole, the traceparent still continued. Written from the spec's grammar, not
// from a library: the router must accept exactly what the spec accepts (future versions, OWS,
// combined header lines) and nothing else (uppercase hex, all-zero ids, version ff).

import type { TraceState } from '@opentelemetry/api';

/**
 * A trace context received from the client, the parent of the router's server span; shaped as
 * OpenTelemetry's SpanContext so the SDK takes it as a remote parent.
 */
export interface RemoteParent {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string;
  /** The caller's span: 16 lowercase hex digits, not all zero. */
  readonly spanId: string;
  /** Trace flags; bit 0 is `sampled`. */
  readonly traceFlags: number;
  readonly isRemote: true;
  /** The validated tracestate (undefined: none, or dropped as invalid). */
  readonly traceState: W3CTraceState | undefined;
}

export const SAMPLED_FLAG = 0x01;

/** A traceparent of version 00 is exactly this long; later versions at least this long. */
const TRACEPARENT_LENGTH = 55;
/** A tracestate of more list-members is invalid (spec: "up to 32"). */
export const TRACESTATE_MAX_MEMBERS = 32;
/** What the router forwards at most (the spec asks every vendor to propagate at least 512). */
export const TRACESTATE_MAX_LENGTH = 512;
/** Truncation removes members longer than this first (spec: 128). */
const TRACESTATE_LONG_MEMBER = 128;

const ALL_ZERO_TRACE = '00000000000000000000000000000000';
const ALL_ZERO_SPAN = '0000000000000000';

/** Lowercase hex of exactly `length` characters starting at `start`. */
function isLowerHex(text: string, start: number, length: number): boolean {
  for (let i = start; i < start + length; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** Optional whitespace (RFC 9110 OWS) is space and horizontal tab. */
function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/**
 * The traceparent header's value, or null when it must be ignored. `value` is what Node hands
 * over: two traceparent lines arrive joined with ", " (then too long, hence invalid, as the spec
 * wants for a duplicated header), an array is refused the same way.
 */
export function parseTraceparent(value: string | string[] | undefined): { traceId: string; spanId: string; traceFlags: number } | null {
  if (typeof value !== 'string') return null;
  const text = trimOws(value);
  if (text.length < TRACEPARENT_LENGTH) return null;
  if (!isLowerHex(text, 0, 2) || text.charCodeAt(2) !== 0x2d) return null;
  const version = text.slice(0, 2);
  if (version === 'ff') return null;
  // Version 00 is exactly 55 characters; a later version may append fields after a dash.
  if (version === '00' ? text.length !== TRACEPARENT_LENGTH : text.length > TRACEPARENT_LENGTH && text.charCodeAt(TRACEPARENT_LENGTH) !== 0x2d) return null;
  if (text.charCodeAt(35) !== 0x2d || text.charCodeAt(52) !== 0x2d) return null;
  if (!isLowerHex(text, 3, 32) || !isLowerHex(text, 36, 16) || !isLowerHex(text, 53, 2)) return null;
  const traceId = text.slice(3, 35);
  const spanId = text.slice(36, 52);
  if (traceId === ALL_ZERO_TRACE || spanId === ALL_ZERO_SPAN) return null;
  let traceFlags = parseInt(text.slice(53, 55), 16);
  // Of a later version only the flags this version defines are kept (bit 0, sampled).
  if (version !== '00') traceFlags &= SAMPLED_FLAG;
  return { traceId, spanId, traceFlags };
}

/** The value of a traceparent header the router sends (always version 00). */
export function formatTraceparent(traceId: string, spanId: string, traceFlags: number): string {
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff) < 0x10 ? '0' : ''}${(traceFlags & 0xff).toString(16)}`;
}

// ---- tracestate

function isKeyChar(c: number): boolean {
  // lcalpha / DIGIT / "_" / "-" / "*" / "/"
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d || c === 0x2a || c === 0x2f;
}

/**
 * simple-key = lcalpha 0*255(keychar); multi-tenant-key = tenant-id "@" system-id with
 * tenant-id = (lcalpha / DIGIT) 0*240(keychar), system-id = lcalpha 0*13(keychar).
 */
export function isTracestateKey(key: string): boolean {
  const at = key.indexOf('@');
  if (at === -1) {
    if (key.length === 0 || key.length > 256) return false;
    const first = key.charCodeAt(0);
    if (!(first >= 0x61 && first <= 0x7a)) return false;
    for (let i = 1; i < key.length; i++) if (!isKeyChar(key.charCodeAt(i))) return false;
    return true;
  }
  const tenantLength = at;
  const systemLength = key.length - at - 1;
  if (tenantLength < 1 || tenantLength > 241 || systemLength < 1 || systemLength > 14) return false;
  const tenantFirst = key.charCodeAt(0);
  if (!((tenantFirst >= 0x61 && tenantFirst <= 0x7a) || (tenantFirst >= 0x30 && tenantFirst <= 0x39))) return false;
  for (let i = 1; i < at; i++) if (!isKeyChar(key.charCodeAt(i))) return false;
  const systemFirst = key.charCodeAt(at + 1);
  if (!(systemFirst >= 0x61 && systemFirst <= 0x7a)) return false;
  for (let i = at + 2; i < key.length; i++) if (!isKeyChar(key.charCodeAt(i))) return false;
  return true;
}

/** value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E. */
export function isTracestateValue(value: string): boolean {
  if (value.length === 0 || value.length > 256) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x2c || c === 0x3d) return false;
  }
  return value.charCodeAt(value.length - 1) !== 0x20;
}

/**
 * A validated tracestate: its list-members (`key=value`, in order) and the header value the
 * router forwards. Immutable; implements OpenTelemetry's TraceState so it rides on span contexts
 * (the SDK copies it to child spans, the OTLP exporter writes `serialize()`).
 */
export class W3CTraceState implements TraceState {
  readonly #members: readonly string[];
  readonly #header: string;

  constructor(members: readonly string[]) {
    this.#members = members;
    this.#header = members.join(',');
  }

  get members(): readonly string[] {
    return this.#members;
  }

  serialize(): string {
    return this.#header;
  }

  get(key: string): string | undefined {
    for (const member of this.#members) {
      const eq = member.indexOf('=');
      if (member.slice(0, eq) === key) return member.slice(eq + 1);
    }
    return undefined;
  }

  /** A new state with `key` first (the spec: an updated or added member moves to the front). */
  set(key: string, value: string): W3CTraceState {
    if (!isTracestateKey(key) || !isTracestateValue(value)) return this;
    const rest = this.#members.filter((m) => m.slice(0, m.indexOf('=')) !== key);
    return new W3CTraceState(truncateMembers([`${key}=${value}`, ...rest]));
  }

  unset(key: string): W3CTraceState {
    return new W3CTraceState(this.#members.filter((m) => m.slice(0, m.indexOf('=')) !== key));
  }
}

/**
 * The tracestate header's value (several header lines arrive joined by ","), validated: null when
 * absent, empty, or invalid in any member (bad key or value, a duplicated key, more than 32
 * members) — the spec lets a vendor discard an invalid tracestate whole, and its test suite
 * expects exactly that. A valid one longer than TRACESTATE_MAX_LENGTH is truncated as the spec
 * says: members over 128 characters go first, then members from the end.
 */
export function parseTracestate(value: string | string[] | undefined): W3CTraceState | null {
  if (value === undefined) return null;
  const text = typeof value === 'string' ? value : value.join(',');
  const members: string[] = [];
  const keys = new Set<string>();
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf(',', start);
    if (end === -1) end = text.length;
    const member = trimOws(text.slice(start, end));
    start = end + 1;
    if (member === '') continue; // empty list-members are allowed and ignored
    const eq = member.indexOf('=');
    if (eq === -1) return null;
    const key = member.slice(0, eq);
    if (!isTracestateKey(key) || !isTracestateValue(member.slice(eq + 1)) || keys.has(key)) return null;
    keys.add(key);
    members.push(member);
    if (members.length > TRACESTATE_MAX_MEMBERS) return null;
  }
  if (members.length === 0) return null;
  return new W3CTraceState(truncateMembers(members));
}

/** Members that fit TRACESTATE_MAX_LENGTH once joined: long members dropped first, then from the end. */
export function truncateMembers(members: readonly string[], maxLength = TRACESTATE_MAX_LENGTH): string[] {
  const length = (list: readonly string[]) => list.reduce((sum, m) => sum + m.length, 0) + Math.max(0, list.length - 1);
  let kept = members.slice(0, TRACESTATE_MAX_MEMBERS);
  if (length(kept) <= maxLength) return kept;
  // Drop long members one at a time, from the end, until the rest fits or none is long.
  for (let i = kept.length - 1; i >= 0 && length(kept) > maxLength; i--) {
    if (kept[i]!.length > TRACESTATE_LONG_MEMBER) kept = [...kept.slice(0, i), ...kept.slice(i + 1)];
  }
  while (kept.length > 0 && length(kept) > maxLength) kept = kept.slice(0, -1);
  return kept;
}
