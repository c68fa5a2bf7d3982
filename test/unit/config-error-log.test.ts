// The ring of recent configuration errors the dashboard shows: bounded, newest first, repeats folded.
import test from 'ava';
import { ConfigErrorLog } from '../../src/sources/config-error-log.ts';

test('keeps the newest entries up to its capacity and counts all of them', (t) => {
  const log = new ConfigErrorLog(3);
  for (let i = 0; i < 5; i++) log.record({ source: 'file', file: 'a.yaml', document: i, error: `bad ${i}` }, i);
  t.is(log.total, 5);
  t.deepEqual(log.recent().map((e) => e.document), [4, 3, 2]);
});

test('the same error again (a re-read of an unchanged bad document) is folded into one entry', (t) => {
  const log = new ConfigErrorLog();
  log.record({ source: 'file', file: 'a.yaml', document: 2, field: 'spec.to', error: 'spec.to: required object' }, 1);
  log.record({ source: 'file', file: 'a.yaml', document: 2, field: 'spec.to', error: 'spec.to: required object' }, 2);
  log.record({ source: 'file', file: 'a.yaml', document: 3, field: 'spec.to', error: 'spec.to: required object' }, 3);
  const [newest, older] = log.recent();
  t.is(newest!.document, 3);
  t.is(older!.repeats, 2);
  t.is(older!.at, 2);
  t.is(log.total, 3);
});

test('Kubernetes objects are told apart by kind, namespace and name (they have no file or document)', (t) => {
  const log = new ConfigErrorLog();
  const refused = { source: 'kubernetes', kind: 'Route', field: 'spec.to', error: 'spec.to: required object' } as const;
  log.record({ ...refused, namespace: 'shop', name: 'a' }, 1);
  log.record({ ...refused, namespace: 'shop', name: 'a' }, 2); // re-listed after a watch restart
  log.record({ ...refused, namespace: 'shop', name: 'b' }, 3);
  log.record({ ...refused, namespace: 'blog', name: 'b' }, 4);
  t.deepEqual(log.recent().map((e) => `${e.namespace}/${e.name}×${e.repeats}`), ['blog/b×1', 'shop/b×1', 'shop/a×2']);
});
