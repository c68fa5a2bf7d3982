// compress: response compression on the body phases — gzip, brotli or zstd, chosen by the
// client's Accept-Encoding and the configured preference; only bodies of the listed content
// types and at least `minSize` bytes (when the length is known); never a response that is
// already encoded, marked `Cache-Control: no-transform`, a range (206), or without a body
// (HEAD, 204, 304). A compressed response loses Content-Length (it is sent chunked, or as HTTP/2
// DATA frames) and Accept-Ranges, its ETag becomes weak (as nginx does), and every response
// that could have been compressed says `Vary: Accept-Encoding`, so caches keep the variants
// apart. The body streams through zlib (its thread pool): nothing is buffered beyond what
// the compressor holds, each upstream chunk is flushed on (streams stay streams), and
// backpressure is kept.
//
// A built-in plugin like any other: a Middleware names it (`spec.plugin: compress`), or
// `--enable-compression` (ROUTER_ENABLE_COMPRESSION, as OpenShift's router) puts it on every
// route with the types of `--compression-mime`.

import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { Type, type Static } from 'typebox';
import Value from 'typebox/value';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';

/** Encodings this Node can produce, best first (zstd needs Node ≥ 22.15). */
export const ENCODINGS = ['br', 'zstd', 'gzip'] as const;
export type Encoding = typeof ENCODINGS[number];

/** What nginx, HAProxy and the OpenShift router compress when told to, plus JSON and the usual text formats. */
export const DEFAULT_CONTENT_TYPES: readonly string[] = Object.freeze([
  'text/html', 'text/plain', 'text/css', 'text/javascript', 'text/xml', 'text/csv', 'text/markdown',
  'application/json', 'application/javascript', 'application/xml', 'application/xhtml+xml', 'application/rss+xml',
  'application/atom+xml', 'application/ld+json', 'application/manifest+json', 'application/wasm', 'image/svg+xml',
  'application/vnd.api+json', 'application/problem+json', 'font/ttf', 'font/otf',
]);

const ZSTD = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';

export const compressConfig = Type.Object({
  /** Encodings offered, in the server's preference (the client's q-values decide first). */
  encodings: Type.Array(Type.Union([Type.Literal('br'), Type.Literal('zstd'), Type.Literal('gzip')]), { minItems: 1, uniqueItems: true, default: [...ENCODINGS] }),
  /** Smallest body compressed when its length is known (bytes). */
  minSize: Type.Integer({ minimum: 0, default: 1024 }),
  /** Media types compressed (`text/*` matches a whole top-level type; parameters are ignored). */
  contentTypes: Type.Array(Type.String({ minLength: 3, pattern: '^[A-Za-z0-9!#$&^_.+-]+/([A-Za-z0-9!#$&^_.+-]+|\\*)$' }), { minItems: 1, default: [...DEFAULT_CONTENT_TYPES] }),
  gzipLevel: Type.Integer({ minimum: 1, maximum: 9, default: 6 }),
  /** Brotli quality: 4 compresses about as well as gzip 9 at a fraction of 11's cost (what on-the-fly compressors use). */
  brotliQuality: Type.Integer({ minimum: 0, maximum: 11, default: 4 }),
  zstdLevel: Type.Integer({ minimum: 1, maximum: 19, default: 3 }),
}, { additionalProperties: false });

export type CompressSettings = Static<typeof compressConfig>;

/** The settings of --enable-compression: the plugin's defaults, with --compression-mime's types when given. */
export function routerCompression(mime: readonly string[]): CompressSettings {
  const input = mime.length > 0 ? { contentTypes: [...mime] } : {};
  const value = Value.Default(compressConfig, input) as CompressSettings;
  if (!Value.Check(compressConfig, value)) throw new Error('--compression-mime: invalid media types');
  return value;
}

/** One response's compressor: chunks in, what zlib made of them out. */
class Compressor {
  readonly #stream: Transform;
  #out: Buffer[] = [];
  #error: Error | null = null;

  constructor(stream: Transform) {
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => this.#out.push(chunk));
    stream.on('error', (err: Error) => { this.#error = err; });
  }

  /**
   * Compress a chunk and flush what it made (a sync flush: the client can decompress everything
   * sent so far), as nginx does for an unbuffered upstream: a streamed response — server-sent
   * events, a long JSON stream — is not held back until the compressor's blocks fill.
   */
  push(chunk: Buffer): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      const stream = this.#stream as Transform & { flush(callback: () => void): void };
      stream.write(chunk, (err) => { if (err) reject(err); });
      stream.flush(() => (this.#error !== null ? reject(this.#error) : resolve(this.#take())));
    });
  }

  finish(): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      if (this.#error !== null) { reject(this.#error); return; }
      this.#stream.once('end', () => resolve(this.#take()));
      this.#stream.once('error', reject);
      this.#stream.end();
    });
  }

  /** The client went away or the exchange failed: free zlib's memory now. */
  discard(): void {
    this.#stream.destroy();
  }

  #take(): Buffer | null {
    const out = this.#out;
    if (out.length === 0) return null;
    this.#out = [];
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}

/** Per exchange: the compressor of a response being compressed, else undefined (no allocation). */
type Local = Compressor | undefined;

/** The encoding to use for `accept` (an Accept-Encoding value), or null: the first of `offered` the client accepts best. */
export function negotiate(accept: string | undefined, offered: readonly Encoding[]): Encoding | null {
  if (accept === undefined || accept === '') return null;
  let best: Encoding | null = null;
  let bestQ = 0;
  let star = -1;
  const q = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [token, ...params] = part.trim().toLowerCase().split(';');
    if (!token) continue;
    let weight = 1;
    for (const p of params) {
      const [k, v] = p.trim().split('=');
      if (k === 'q') weight = Number.isFinite(Number(v)) ? Math.min(1, Math.max(0, Number(v))) : 0;
    }
    if (token === '*') star = weight;
    else q.set(token === 'x-gzip' ? 'gzip' : token, weight);
  }
  for (const encoding of offered) {
    const weight = q.get(encoding) ?? (star >= 0 ? star : 0);
    if (weight > bestQ) {
      best = encoding;
      bestQ = weight;
    }
  }
  return best;
}

function mediaType(value: unknown): string {
  const text = Array.isArray(value) ? String(value[0]) : typeof value === 'string' ? value : '';
  const semi = text.indexOf(';');
  return (semi === -1 ? text : text.slice(0, semi)).trim().toLowerCase();
}

function hasToken(value: unknown, token: string): boolean {
  const text = Array.isArray(value) ? value.join(',') : typeof value === 'string' ? value : '';
  return text.toLowerCase().split(',').some((t) => t.trim() === token);
}

/** A status whose response may carry a body worth compressing. */
function compressibleStatus(status: number): boolean {
  return status >= 200 && status !== 204 && status !== 206 && status !== 304;
}

export default definePlugin({
  name: 'compress',
  config: compressConfig,
  create(config) {
    const offered = config.encodings.filter((e) => e !== 'zstd' || ZSTD);
    const exact = new Set<string>();
    const wildcard = new Set<string>();
    for (const t of config.contentTypes) {
      const lower = t.toLowerCase();
      if (lower.endsWith('/*')) wildcard.add(lower.slice(0, -2));
      else exact.add(lower);
    }
    const typeAllowed = (type: string): boolean => exact.has(type) || wildcard.has(type.slice(0, type.indexOf('/')));
    const make = (encoding: Encoding): Transform => {
      switch (encoding) {
        case 'br': return zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: config.brotliQuality } });
        case 'zstd': return (zlib as unknown as { createZstdCompress(o: object): Transform }).createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: config.zstdLevel } });
        default: return zlib.createGzip({ level: config.gzipLevel });
      }
    };
    return {
      response(ctx: PluginContext<Local>): void {
        const headers = ctx.responseHeaders!;
        if (ctx.method === 'HEAD' || !compressibleStatus(ctx.status)) return;
        const encoded = headers['content-encoding'];
        if (encoded !== undefined && !hasToken(encoded, 'identity')) return;
        if (hasToken(headers['cache-control'], 'no-transform') || headers['content-range'] !== undefined) return;
        if (!typeAllowed(mediaType(headers['content-type']))) return;
        const length = headers['content-length'];
        if (length !== undefined && Number(length) < config.minSize) return;
        // Compressible: caches must keep the variants apart, whatever this client accepts.
        const vary = headers.vary;
        if (vary === undefined) headers.vary = 'Accept-Encoding';
        else if (!hasToken(vary, 'accept-encoding') && !hasToken(vary, '*')) headers.vary = `${Array.isArray(vary) ? vary.join(', ') : String(vary)}, Accept-Encoding`;
        const encoding = negotiate(ctx.headers['accept-encoding'], offered);
        if (encoding === null) return;
        headers['content-encoding'] = encoding;
        delete headers['content-length'];
        delete headers['accept-ranges'];
        const etag = headers.etag;
        if (typeof etag === 'string' && etag.startsWith('"')) headers.etag = `W/${etag}`;
        ctx.local = new Compressor(make(encoding));
      },
      responseBody(ctx: PluginContext<Local>, chunk: Buffer, end: boolean): Promise<Buffer | null> | null | undefined {
        const compressor = ctx.local;
        if (compressor === undefined) return undefined; // not compressed: passed on unchanged
        if (end) return compressor.finish();
        return chunk.length === 0 ? null : compressor.push(chunk);
      },
      log(ctx: PluginContext<Local>): void {
        // The exchange ended early (client gone, upstream cut): release zlib's state.
        if (ctx.outcome !== 'forwarded') ctx.local?.discard();
      },
    };
  },
});
