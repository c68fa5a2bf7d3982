// The test node's container logs (test/k8s/node/container-logs.ts): output kept a line at a time
// with its time, long lines in pieces, and read back as the kubelet answers pods/log.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ContainerLogWriter, readContainerLog } from '../k8s/node/container-logs.ts';

function withLog(fn: (file: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'sy-logs-'));
  try {
    fn(path.join(dir, 'app.log'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('lines split across writes and streams, an unterminated last line, a long line in pieces: read back whole', (t) => {
  withLog((file) => {
    const log = new ContainerLogWriter(file);
    log.write('stdout', 'one\ntw');
    log.write('stderr', 'err line\n');
    log.write('stdout', 'o\n');
    const long = 'x'.repeat(40 * 1024);
    log.write('stdout', `${long}\nlast`);
    log.close();
    t.is(readContainerLog(file), `one\nerr line\ntwo\n${long}\nlast\n`);
    const raw = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    t.regex(raw[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z stdout F one$/);
    t.regex(raw[1]!, / stderr F err line$/);
    t.is(raw.filter((l) => / stdout P x+$/.test(l)).length, 2, 'a 40 KiB line is two 16 KiB pieces and the rest');
  });
});

test('since, timestamps, tailLines and limitBytes as the kubelet reads them', (t) => {
  withLog((file) => {
    const log = new ContainerLogWriter(file);
    log.write('stdout', 'a\nb\nc\n');
    log.close();
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const time = new Date(lines[0]!.split(' ')[0]!);
    t.is(readContainerLog(file, { since: time }), 'a\nb\nc\n');
    t.is(readContainerLog(file, { since: new Date(time.getTime() + 1) }), '');
    t.is(readContainerLog(file, { tailLines: 2 }), 'b\nc\n');
    t.is(readContainerLog(file, { tailLines: 0 }), '');
    t.is(readContainerLog(file, { limitBytes: 3 }), 'a\nb');
    t.regex(readContainerLog(file, { timestamps: true, tailLines: 1 }), /^\d{4}-\d\d-\d\dT[\d:.]+Z c\n$/);
    t.is(readContainerLog(path.join(path.dirname(file), 'none.log')), '');
  });
});
