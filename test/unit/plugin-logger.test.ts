// A plugin instance's logger is a pino child made on its first line (one per route and plugin
// made eagerly cost seconds at 100k routes): its lines still carry the middleware and route,
// pass through the redaction, and debug lines cost nothing below the level.
import test from 'ava';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.ts';
import { lazyChildLogger } from '../../src/proxy/route-runtime.ts';

function capture(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); done(); } });
  const logger = createLogger(level, destination);
  let children = 0;
  const child = logger.child.bind(logger);
  logger.child = ((...args: Parameters<typeof child>) => { children++; return child(...args); }) as typeof logger.child;
  return { logger, lines, children: () => children };
}

test('no child until the first line; lines carry middleware and route, secrets redacted', (t) => {
  const { logger, lines, children } = capture('info');
  const log = lazyChildLogger(logger, { middleware: 'ns/limit', route: 'Route/ns/shop' });
  t.is(children(), 0);
  log.debug({ x: 1 }, 'below the level');
  t.is(children(), 0, 'a debug line below the level makes no child');
  log.warn({ token: 'secret-value' }, 'something');
  log.info({ n: 2 }, 'again');
  t.is(children(), 1, 'one child, reused');
  t.is(lines.length, 2);
  t.like(lines[0], { middleware: 'ns/limit', route: 'Route/ns/shop', msg: 'something', level: 'warn', token: '[redacted]' });
  t.like(lines[1], { middleware: 'ns/limit', route: 'Route/ns/shop', msg: 'again', n: 2 });
});

test('debug lines are written when the level allows them', (t) => {
  const { logger, lines } = capture('debug');
  lazyChildLogger(logger, { middleware: 'm', route: 'r' }).debug({ a: 1 }, 'detail');
  t.like(lines[0], { middleware: 'm', route: 'r', msg: 'detail', level: 'debug' });
});
