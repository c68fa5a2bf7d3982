// One pino logger for the process. Serializers make sure certificates' keys and tokens never
// reach a log line: objects are logged by reference (kind/namespace/name), not by content.

import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'key', '*.key', 'tls.key', '*.tls.key', 'token', '*.token', 'password', '*.password',
  'authorization', '*.authorization', 'headers.authorization', 'headers.cookie', 'data', '*.data',
];

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A logger that writes nothing (unit tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
