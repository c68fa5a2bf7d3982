// PROXY protocol v1 (text) and v2 (binary) in front of both listeners, as an L4 load balancer
// sends it (HAProxy's spec, proxy-protocol.txt). Only peers in --proxy-protocol-trusted may
// send it; everyone else is refused, and a trusted peer must send it. The header's source
// becomes the connection's remoteAddress/remotePort, so everything that reads the client address
// (allowlists, rate limits, X-Forwarded-For, logs) sees the real client. The header is consumed
// here and not forwarded (passthrough backends get the TLS bytes only).
//
// Written here rather than taken from npm: the parsers there (proxy-protocol-js, the balena one)
// decode a complete buffer, while a listener needs to frame a stream — tell "need more bytes"
// from "invalid" after any prefix, bound what it buffers, and time out — which is most of the
// work; the decoding itself is a few dozen lines.

import { BlockList, isIPv4, isIPv6, type Socket } from 'node:net';
import type { Counter } from 'prom-client';
import { parseCidr } from '../config.ts';

export interface ProxyAddress { address: string; port: number }

export interface ProxyHeader {
  version: 1 | 2;
  /** LOCAL (v2) / UNKNOWN (v1): the balancer's own connection, e.g. a health check. */
  local: boolean;
  source: ProxyAddress | null;
  destination: ProxyAddress | null;
}

export type ProxyParse =
  | { status: 'incomplete' }
  | { status: 'invalid'; reason: string }
  | { status: 'ok'; length: number; header: ProxyHeader };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** "PROXY TCP6 " + two 39-char addresses + two ports + spaces + CRLF (the spec's bound). */
const V1_MAX = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** v2 header plus TLVs we are willing to buffer (the spec allows 64 KiB; balancers send < 1 KiB). */
export const V2_MAX = 4096;

const INCOMPLETE: ProxyParse = { status: 'incomplete' };

function invalid(reason: string): ProxyParse {
  return { status: 'invalid', reason };
}

/** Is `data` a (possibly partial) prefix of `signature`? */
function startsLike(data: Buffer, signature: Buffer): boolean {
  const n = Math.min(data.length, signature.length);
  return data.subarray(0, n).equals(signature.subarray(0, n));
}

/** Parse a PROXY header at the start of `data` (the connection's first bytes so far). */
export function parseProxyHeader(data: Buffer): ProxyParse {
  if (data.length === 0) return INCOMPLETE;
  if (startsLike(data, V2_SIGNATURE)) return data.length < 16 ? INCOMPLETE : parseV2(data);
  if (startsLike(data, V1_PREFIX)) return data.length < V1_PREFIX.length ? INCOMPLETE : parseV1(data);
  return invalid('no PROXY protocol header');
}

function parseV1(data: Buffer): ProxyParse {
  const end = data.indexOf('\r\n', 0, 'latin1');
  if (end === -1) return data.length >= V1_MAX ? invalid('v1 header longer than 107 bytes') : INCOMPLETE;
  if (end + 2 > V1_MAX) return invalid('v1 header longer than 107 bytes');
  const fields = data.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (fields[1] === 'UNKNOWN') return { status: 'ok', length, header: { version: 1, local: true, source: null, destination: null } };
  if (fields.length !== 6) return invalid('v1 header: expected PROXY TCP4|TCP6 <src> <dst> <sport> <dport>');
  const [, family, src, dst, sport, dport] = fields as [string, string, string, string, string, string];
  const isFamily = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : null;
  if (isFamily === null) return invalid(`v1 header: unknown protocol "${family.slice(0, 16)}"`);
  if (!isFamily(src) || !isFamily(dst)) return invalid(`v1 header: addresses are not ${family}`);
  const sourcePort = v1Port(sport);
  const destinationPort = v1Port(dport);
  if (sourcePort === null || destinationPort === null) return invalid('v1 header: invalid port');
  return { status: 'ok', length, header: { version: 1, local: false, source: { address: src, port: sourcePort }, destination: { address: dst, port: destinationPort } } };
}

function v1Port(text: string): number | null {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

function parseV2(data: Buffer): ProxyParse {
  const versionCommand = data[12]!;
  if (versionCommand >> 4 !== 2) return invalid(`v2 header: version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid(`v2 header: command ${command}`);
  const family = data[13]!;
  const length = 16 + data.readUInt16BE(14);
  if (length > V2_MAX) return invalid(`v2 header: ${length} bytes, more than ${V2_MAX}`);
  if (data.length < length) return INCOMPLETE;
  const local: ProxyParse = { status: 'ok', length, header: { version: 2, local: true, source: null, destination: null } };
  if (command === 0) return local; // LOCAL: the balancer's own connection; addresses are ignored
  switch (family) {
    case 0x11: { // TCP over IPv4
      if (length < 16 + 12) return invalid('v2 header: address block too short for TCP4');
      return { status: 'ok', length, header: {
        version: 2, local: false,
        source: { address: ipv4(data, 16), port: data.readUInt16BE(24) },
        destination: { address: ipv4(data, 20), port: data.readUInt16BE(26) },
      } };
    }
    case 0x21: { // TCP over IPv6
      if (length < 16 + 36) return invalid('v2 header: address block too short for TCP6');
      return { status: 'ok', length, header: {
        version: 2, local: false,
        source: { address: ipv6(data, 16), port: data.readUInt16BE(48) },
        destination: { address: ipv6(data, 32), port: data.readUInt16BE(50) },
      } };
    }
    case 0x00: // UNSPEC: as LOCAL
      return local;
    default:
      return invalid(`v2 header: unsupported address family/protocol 0x${family.toString(16).padStart(2, '0')}`);
  }
}

function ipv4(data: Buffer, at: number): string {
  return `${data[at]}.${data[at + 1]}.${data[at + 2]}.${data[at + 3]}`;
}

function ipv6(data: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(data.readUInt16BE(at + i).toString(16));
  // Compressed like Node prints addresses, so logs and allowlists compare alike.
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

/** Build a header (tests, the reliability bench): v1 text or v2 binary for TCP4/TCP6. */
export function encodeProxyHeader(version: 1 | 2, source: ProxyAddress, destination: ProxyAddress): Buffer {
  const v6 = isIPv6(source.address);
  if (version === 1) {
    return Buffer.from(`PROXY ${v6 ? 'TCP6' : 'TCP4'} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`, 'latin1');
  }
  const addressBytes = (address: string): Buffer => {
    if (!v6) return Buffer.from(address.split('.').map(Number));
    const url = new URL(`http://[${address}]`).hostname.slice(1, -1);
    const [head, tail = ''] = url.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = url.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    const out = Buffer.alloc(16);
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
    return out;
  };
  const addresses = Buffer.concat([addressBytes(source.address), addressBytes(destination.address), Buffer.alloc(4)]);
  addresses.writeUInt16BE(source.port, addresses.length - 4);
  addresses.writeUInt16BE(destination.port, addresses.length - 2);
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head);
  head[12] = 0x21;
  head[13] = v6 ? 0x21 : 0x11;
  head.writeUInt16BE(addresses.length, 14);
  return Buffer.concat([head, addresses]);
}

const kProxiedBy = Symbol('switchyard.proxiedBy');

/**
 * From now on `socket.remoteAddress`/`remotePort` are the client's, as the header said. The
 * balancer's address stays readable with proxiedBy(). This is the one place that changes them.
 */
export function setClientAddress(socket: Socket, client: ProxyAddress): void {
  (socket as unknown as Record<symbol, unknown>)[kProxiedBy] = { address: socket.remoteAddress, port: socket.remotePort };
  Object.defineProperty(socket, 'remoteAddress', { value: client.address, configurable: true });
  Object.defineProperty(socket, 'remotePort', { value: client.port, configurable: true });
  Object.defineProperty(socket, 'remoteFamily', { value: isIPv6(client.address) ? 'IPv6' : 'IPv4', configurable: true });
}

/** The load balancer a PROXY header came from, when one did. */
export function proxiedBy(socket: Socket): ProxyAddress | undefined {
  return (socket as unknown as Record<symbol, ProxyAddress | undefined>)[kProxiedBy];
}

/** A TLS socket reports its own peer: give it the client address of the socket it wraps. */
export function inheritClientAddress(tlsSocket: Socket, accepted: Socket): void {
  const by = proxiedBy(accepted);
  if (by === undefined) return;
  setClientAddress(tlsSocket, { address: accepted.remoteAddress!, port: accepted.remotePort! });
  (tlsSocket as unknown as Record<symbol, unknown>)[kProxiedBy] = by;
}

export type ProxyProtocolResult = 'ok' | 'untrusted' | 'invalid' | 'timeout';

export interface ProxyProtocolOptions {
  trusted: readonly string[];
  headerTimeoutMs: number;
  /** switchyard_proxy_protocol_total by result */
  counter: Counter<'result'>;
}

/** Reads the PROXY header of each accepted connection before the listener sees it. */
export class ProxyProtocolGate {
  readonly #trusted = new BlockList();
  readonly #timeoutMs: number;
  readonly #results: Record<ProxyProtocolResult, Counter.Internal>;

  constructor(options: ProxyProtocolOptions) {
    for (const text of options.trusted) {
      const cidr = parseCidr(text)!;
      this.#trusted.addSubnet(cidr.address, cidr.prefix, cidr.family);
    }
    this.#timeoutMs = options.headerTimeoutMs;
    const c = options.counter;
    this.#results = { ok: c.labels('ok'), untrusted: c.labels('untrusted'), invalid: c.labels('invalid'), timeout: c.labels('timeout') };
  }

  isTrusted(address: string | undefined): boolean {
    if (address === undefined) return false;
    const mapped = address.startsWith('::ffff:') && isIPv4(address.slice(7));
    return mapped ? this.#trusted.check(address.slice(7), 'ipv4') : this.#trusted.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
  }

  /** Refuse an untrusted peer; otherwise read the header, then hand the socket to `next`. */
  accept(socket: Socket, next: (socket: Socket) => void): void {
    if (!this.isTrusted(socket.remoteAddress)) {
      this.#results.untrusted.inc();
      socket.destroy();
      return;
    }
    new ProxyHeaderReader(this, socket, next, this.#timeoutMs);
  }

  count(result: ProxyProtocolResult): void {
    this.#results[result].inc();
  }
}

const EMPTY = Buffer.alloc(0);

class ProxyHeaderReader {
  readonly #gate: ProxyProtocolGate;
  readonly #socket: Socket;
  readonly #next: (socket: Socket) => void;
  readonly #timer: NodeJS.Timeout;
  #buffered: Buffer = EMPTY;
  readonly #onData = (chunk: Buffer): void => this.#read(chunk);
  readonly #onEnd = (): void => this.#fail(null);

  constructor(gate: ProxyProtocolGate, socket: Socket, next: (socket: Socket) => void, timeoutMs: number) {
    this.#gate = gate;
    this.#socket = socket;
    this.#next = next;
    this.#timer = setTimeout(onHeaderTimeout, timeoutMs, this);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onEnd);
  }

  timeout(): void {
    this.#fail('timeout');
  }

  #read(chunk: Buffer): void {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const parsed = parseProxyHeader(this.#buffered);
    if (parsed.status === 'incomplete') return;
    if (parsed.status === 'invalid') {
      this.#fail('invalid');
      return;
    }
    this.#detach();
    const socket = this.#socket;
    socket.pause();
    if (!parsed.header.local && parsed.header.source !== null) setClientAddress(socket, parsed.header.source);
    this.#gate.count('ok');
    const rest = this.#buffered.subarray(parsed.length);
    if (rest.length > 0) socket.unshift(rest);
    this.#next(socket);
    // The next stage reads with 'data' listeners of its own; they resume the stream.
    if (socket.listenerCount('data') > 0) socket.resume();
  }

  #detach(): void {
    clearTimeout(this.#timer);
    this.#socket.removeListener('data', this.#onData);
    this.#socket.removeListener('end', this.#onEnd);
    this.#socket.removeListener('error', this.#onEnd);
  }

  #fail(result: ProxyProtocolResult | null): void {
    this.#detach();
    if (result !== null) this.#gate.count(result);
    this.#socket.on('error', ignore);
    this.#socket.destroy();
  }
}

function onHeaderTimeout(reader: ProxyHeaderReader): void {
  reader.timeout();
}

function ignore(): void {}
