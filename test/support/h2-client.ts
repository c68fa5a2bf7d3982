// A small HTTP/2 client for tests (node:http2): one request on a session, the whole answer —
// status, headers, body and trailers — or the stream's reset code.

import http2 from 'node:http2';

export interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders;
  /** RST_STREAM code when the stream was reset (0 otherwise). */
  rstCode: number;
  text(): string;
}

/** Connect by prior knowledge (`http://`) or TLS (`https://`); errors are swallowed into the requests. */
export function h2Connect(url: string, options: http2.SecureClientSessionOptions = {}): http2.ClientHttp2Session {
  const session = http2.connect(url, options);
  session.on('error', () => {});
  return session;
}

export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => { status = Number(h[':status']); responseHeaders = h; });
    stream.on('trailers', (t) => { trailers = t; });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('close', () => {
      if (status === 0 && stream.rstCode === 0) { reject(new Error('stream closed without a response')); return; }
      const data = Buffer.concat(chunks);
      resolve({ status, headers: responseHeaders, body: data, trailers, rstCode: stream.rstCode ?? 0, text: () => data.toString('utf8') });
    });
    if (body !== undefined) stream.end(body);
  });
}
