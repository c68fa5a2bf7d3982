// One pino logger for the process. Serializers make sure certificates' keys and tokens never
// reach a log line: objects are logged by reference (kind/namespace/name), not by content.

import { pino, type Logger } from 'pino';

export type { Logger };

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
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A logger that writes nothing (unit tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
