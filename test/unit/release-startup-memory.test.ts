// The CLI's one collection after start-up: it happens (a line says how long it took and what
// it gave back), and it leaves no `gc` behind for code that makes vm contexts later (plugins).

import test from 'ava';
import { Writable } from 'node:stream';
import { runInNewContext } from 'node:vm';
import { createLogger } from '../../src/log.ts';
import { releaseStartupMemory } from '../../src/release-startup-memory.ts';

test('one full collection, logged; no gc exposed to later vm contexts', (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
  t.true(releaseStartupMemory(logger));
  t.is(lines.length, 1);
  t.like(lines[0], { msg: 'start-up memory released' });
  t.is(typeof lines[0]!.ms, 'number');
  t.is(typeof lines[0]!.rssAfterMb, 'number');
  t.is(runInNewContext('typeof gc'), 'undefined');
  t.true(releaseStartupMemory(logger), 'callable again (the function is kept)');
});
