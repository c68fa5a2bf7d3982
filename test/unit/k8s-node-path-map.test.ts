// The test node maps volume mountPaths to per-pod directories in commands, args, env values and
// exec probes (test/k8s/node/pod-environment.ts): each path is rewritten once, the longest
// mountPath first, and only at path boundaries.
import test from 'ava';
import { PathMap } from '../k8s/node/pod-environment.ts';

const map = new PathMap([
  { mountPath: '/tmp', directory: '/tmp/sy-node-abc/0123abcd/volumes/tmp' },
  { mountPath: '/etc/switchyard/stats', directory: '/tmp/sy-node-abc/0123abcd/volumes/stats' },
  { mountPath: '/etc/switchyard/stats/extra/', directory: '/tmp/sy-node-abc/0123abcd/volumes/extra' },
]);

test('a path under another volume\'s directory is not rewritten again (a mount at /tmp, volumes under the system /tmp)', (t) => {
  t.is(map.map('/etc/switchyard/stats/username'), '/tmp/sy-node-abc/0123abcd/volumes/stats/username');
  t.is(map.map('/tmp/switchyard-admin.sock'), '/tmp/sy-node-abc/0123abcd/volumes/tmp/switchyard-admin.sock');
});

test('the longest mountPath wins; only whole path elements match; every occurrence in a command line', (t) => {
  t.is(map.map('/etc/switchyard/stats/extra/x'), '/tmp/sy-node-abc/0123abcd/volumes/extra/x');
  t.is(map.map('/tmpfoo /var/tmp /tmp'), '/tmpfoo /var/tmp /tmp/sy-node-abc/0123abcd/volumes/tmp');
  t.is(map.map("require('http').get({socketPath:'/tmp/a.sock'}) --file=/etc/switchyard/stats/p"),
    "require('http').get({socketPath:'/tmp/sy-node-abc/0123abcd/volumes/tmp/a.sock'}) --file=/tmp/sy-node-abc/0123abcd/volumes/stats/p");
});
