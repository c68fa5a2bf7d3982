// The admin port's bounds (src/admin/admin-limits.ts): the connection cap from the open-files
// limit, and per-client slots for event streams.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ClientSlots, adminConnectionLimit, openFilesLimit } from '../../src/admin/admin-limits.ts';

test('the open-files limit is read from /proc; the admin cap is a quarter of it, between 64 and 1,024', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sy-limits-'));
  const file = path.join(dir, 'limits');
  writeFileSync(file, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n');
  t.is(openFilesLimit(file), 1024);
  writeFileSync(file, 'Max open files            unlimited            unlimited            files\n');
  t.is(openFilesLimit(file), Number.MAX_SAFE_INTEGER);
  t.is(openFilesLimit(path.join(dir, 'missing')), null);
  t.is(typeof openFilesLimit(), 'number', 'this process (Linux)');
  t.is(adminConnectionLimit(1024), 256);
  t.is(adminConnectionLimit(256), 64);
  t.is(adminConnectionLimit(100), 64);
  t.is(adminConnectionLimit(1_048_576), 1024);
  t.is(adminConnectionLimit(null), 256);
});

test('client slots: a share per client and a total; a release frees one', (t) => {
  const slots = new ClientSlots(5, 2);
  t.true(slots.take('a'));
  t.true(slots.take('a'));
  t.false(slots.take('a'));
  t.true(slots.take('b'));
  t.true(slots.take('b'));
  t.true(slots.take('c'));
  t.false(slots.take('d'), 'total reached');
  slots.release('a');
  t.true(slots.take('d'));
  t.is(slots.size, 5);
  slots.release('zzz');
  t.is(slots.size, 5, 'releasing what was never taken changes nothing');
});
