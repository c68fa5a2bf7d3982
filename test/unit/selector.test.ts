import test from 'ava';
import { LabelSelectorError, parseLabelSelector } from '../../src/admission/label-selector.ts';

const cases: Array<[string, Record<string, string> | undefined, boolean]> = [
  ['', undefined, true],
  ['', { a: 'b' }, true],
  ['shard=a', { shard: 'a' }, true],
  ['shard=a', { shard: 'b' }, false],
  ['shard=a', {}, false],
  ['shard==a', { shard: 'a' }, true],
  ['shard!=a', { shard: 'b' }, true],
  ['shard!=a', {}, true],
  ['shard!=a', { shard: 'a' }, false],
  ['shard in (a, b)', { shard: 'b' }, true],
  ['shard in (a,b)', { shard: 'c' }, false],
  ['shard in (a,b)', {}, false],
  ['shard notin (a)', { shard: 'b' }, true],
  ['shard notin (a)', {}, true],
  ['shard notin (a)', { shard: 'a' }, false],
  ['public', { public: '' }, true],
  ['public', {}, false],
  ['!internal', {}, true],
  ['!internal', { internal: 'yes' }, false],
  [' shard = a , tier in (web, api) , !internal ', { shard: 'a', tier: 'api' }, true],
  ['shard=a,tier in (web,api),!internal', { shard: 'a', tier: 'db' }, false],
  ['example.com/team=x', { 'example.com/team': 'x' }, true],
  ['env=', { env: '' }, true],
];

for (const [selector, labels, expected] of cases) {
  test(`selector "${selector}" on ${JSON.stringify(labels)} → ${expected}`, (t) => {
    t.is(parseLabelSelector(selector).matches(labels), expected);
  });
}

test('empty selector is flagged empty', (t) => {
  t.true(parseLabelSelector('  ').empty);
  t.false(parseLabelSelector('a=b').empty);
});

for (const bad of ['a=b=c', 'shard in (a', 'shard in ()', 'a,,b', '=a', 'bad key=x', 'a=-x', 'shard in a,b)', '-a']) {
  test(`invalid selector "${bad}" throws a clear error`, (t) => {
    const err = t.throws(() => parseLabelSelector(bad), { instanceOf: LabelSelectorError });
    t.true(err!.message.includes(bad), err!.message);
  });
}
