// One pino logger for the process. Serializers make sure certificates' keys and tokens never
// reach a log line: objects are logged by reference (kind/namespace/name), not by content.

import { pino, type Logger } from 'pino';
import sonicBoom, { type SonicBoom as SonicBoomStream } from 'sonic-boom';

export type { Logger };

// sonic-boom (the stream pino writes with) is CommonJS, `module.exports = SonicBoom`, while its
// types declare ES exports: at run time the default import is the class.
const SonicBoom = sonicBoom as unknown as typeof SonicBoomStream;

// A safety net only: code logs objects by reference (kind/namespace/name), never their content.
// (`key` alone is not here: route keys like `Route/ns/name` are logged as `key`.)
const REDACT = [
  'privateKey', '*.privateKey', 'tls.key', '*.tls.key', 'spec.tls.key', 'token', '*.token',
  'password', '*.password', 'authorization', '*.authorization', 'headers.authorization',
  'headers.cookie', 'headers["proxy-authorization"]', 'data', '*.data', 'stringData', '*.stringData',
];

/** `bindings`: more fields on every line (a proxy worker thread's `worker` id). */
export function createLogger(level = 'info', destination?: pino.DestinationStream, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? logDestination(1),
  );
}

/** What a stalled log reader may hold in memory before further lines are dropped (characters). */
const MAX_BUFFERED = 16 * 1024 * 1024;

/**
 * The log's file descriptor (stdout), written asynchronously; logging must never stop the router
 * nor keep it alive. When the reader has gone away (EPIPE: a closed pipe, a dead log collector)
 * logging turns off for good rather than failing the process or retrying forever; a reader that
 * stops reading makes lines wait (up to MAX_BUFFERED, then they are dropped) without blocking the
 * event loop. No exit hook flushes synchronously (pino's does, and spins forever on EPIPE, or
 * blocks in write(2) on a stalled pipe): the shutdown sequence flushes with flushLog(), bounded.
 */
export function logDestination(fd: number): SonicBoomStream {
  const stream = new SonicBoom({ fd, sync: false, maxLength: MAX_BUFFERED });
  stream.on('error', () => {
    // Whatever the error (EPIPE, EBADF, EIO), later writes would fail the same way and their
    // lines would pile up in memory: stop writing, keep the process going.
    stream.write = () => true;
    stream.flush = (cb?: (err?: Error) => unknown) => { cb?.(); };
    stream.flushSync = () => {};
  });
  return stream;
}

/**
 * Wait until the lines logged so far are written, at most `boundMs`: the last step before a
 * process exits. Resolves (never rejects) on success, on a write error and at the bound alike.
 */
export function flushLog(logger: Logger, boundMs = 2_000): Promise<void> {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flush?: (cb: (err?: Error) => void) => void } | undefined;
  if (typeof stream?.flush !== 'function') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, boundMs);
    const done = () => { clearTimeout(timer); resolve(); };
    try {
      stream.flush!(done);
    } catch {
      done(); // a destroyed stream
    }
  });
}

/** A logger that writes nothing (unit tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
