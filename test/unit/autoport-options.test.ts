import test from 'ava';
import { parseAutoportOptions } from '../../src/autoport/autoport-options.ts';
import { AutoportUsageError, EXIT_USAGE } from '../../src/autoport/autoport-errors.ts';

const POD = { POD_NAME: 'web-1', POD_NAMESPACE: 'shop' };

test('defaults: one port in [20000, 21000), report on, exec on, bind test on 0.0.0.0', (t) => {
  const o = parseAutoportOptions(['--', 'nginx', '-g', 'daemon off;'], POD);
  t.is(o.count, 1);
  t.is(o.start, 20000);
  t.is(o.end, 21000);
  t.true(o.report);
  t.true(o.exec);
  t.is(o.bindHost, '0.0.0.0');
  t.is(o.reportTimeoutMs, 30_000);
  t.is(o.command, 'nginx');
  t.deepEqual(o.args, ['-g', 'daemon off;']);
  t.is(o.podName, 'web-1');
  t.is(o.podNamespace, 'shop');
});

test('environment wins over defaults (DomeOS names)', (t) => {
  const o = parseAutoportOptions(['--', 'app'], { ...POD, AUTO_PORT_COUNT: '3', AVAILABLE_PORT_START: '30000', AVAILABLE_PORT_END: '30100', AUTO_PORT_BIND_HOST: '127.0.0.1', AUTO_PORT_REPORT_TIMEOUT: '2s', AUTO_PORT_REPORT: 'false' });
  t.is(o.count, 3);
  t.is(o.start, 30000);
  t.is(o.end, 30100);
  t.is(o.bindHost, '127.0.0.1');
  t.is(o.reportTimeoutMs, 2000);
  t.false(o.report);
});

test('only one end of the range from the environment keeps the other default', (t) => {
  const o = parseAutoportOptions(['--', 'app'], { ...POD, AVAILABLE_PORT_START: '20500' });
  t.is(o.start, 20500);
  t.is(o.end, 21000);
});

test('flags win over environment', (t) => {
  const env = { ...POD, AUTO_PORT_COUNT: '3', AVAILABLE_PORT_START: '30000', AVAILABLE_PORT_END: '30100', AUTO_PORT_BIND_HOST: '0.0.0.0' };
  const o = parseAutoportOptions(['--count', '2', '--range=40000-40010', '--bind-host', '127.0.0.1', '--report-timeout', '500ms', '--no-report', '--no-exec', '--', 'app'], env);
  t.is(o.count, 2);
  t.is(o.start, 40000);
  t.is(o.end, 40010);
  t.is(o.bindHost, '127.0.0.1');
  t.is(o.reportTimeoutMs, 500);
  t.false(o.report);
  t.false(o.exec);
});

test('--template repeats; input and output split at the last colon', (t) => {
  const o = parseAutoportOptions(['--template', 'a.tmpl:a.conf', '--template=/etc/x:y.tmpl:/run/y.conf', '--no-report', '--', 'app'], {});
  t.deepEqual(o.templates, [{ input: 'a.tmpl', output: 'a.conf' }, { input: '/etc/x:y.tmpl', output: '/run/y.conf' }]);
});

test('the command starts at -- or at the first non-option; its own flags are left alone', (t) => {
  t.deepEqual(parseAutoportOptions(['--no-report', 'app', '--count', '9'], {}).args, ['--count', '9']);
  const o = parseAutoportOptions(['--no-report', '--', '--weird-name', '-x'], {});
  t.is(o.command, '--weird-name');
  t.deepEqual(o.args, ['-x']);
});

test('options are frozen', (t) => {
  const o = parseAutoportOptions(['--no-report', '--', 'app'], {});
  t.true(Object.isFrozen(o));
  t.true(Object.isFrozen(o.templates));
});

const invalid: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
  ['count not a number', ['--count', 'two', '--', 'a'], POD, /^--count: .*"two"/],
  ['count zero', ['--count', '0', '--', 'a'], POD, /^--count: .*>= 1/],
  ['count from env', ['--', 'a'], { ...POD, AUTO_PORT_COUNT: '-1' }, /^AUTO_PORT_COUNT: /],
  ['range shape', ['--range', '20000:21000', '--', 'a'], POD, /^--range: expected START-END/],
  ['range reversed', ['--range', '21000-20000', '--', 'a'], POD, /^--range: start 21000 must be below end 20000/],
  ['range empty', ['--range', '20000-20000', '--', 'a'], POD, /^--range: start/],
  ['range end too high', ['--range', '20000-70000', '--', 'a'], POD, /^--range end: .*65536/],
  ['range start zero', ['--range', '0-10', '--', 'a'], POD, /^--range start: /],
  ['env start not a port', ['--', 'a'], { ...POD, AVAILABLE_PORT_START: 'abc' }, /^AVAILABLE_PORT_START: .*"abc"/],
  ['env end not a port', ['--', 'a'], { ...POD, AVAILABLE_PORT_END: '99999' }, /^AVAILABLE_PORT_END: /],
  ['env range reversed', ['--', 'a'], { ...POD, AVAILABLE_PORT_START: '21000', AVAILABLE_PORT_END: '20000' }, /^AVAILABLE_PORT_START\/AVAILABLE_PORT_END: start 21000/],
  ['template without output', ['--template', 'a.tmpl', '--', 'a'], POD, /^--template: expected INPUT:OUTPUT/],
  ['template with empty output', ['--template', 'a.tmpl:', '--', 'a'], POD, /^--template: /],
  ['unknown flag', ['--ports', '2', '--', 'a'], POD, /^--ports: unknown option/],
  ['missing value', ['--count'], POD, /^--count: missing value/],
  ['value on a switch', ['--no-report=yes', '--', 'a'], POD, /^--no-report: takes no value/],
  ['bad timeout', ['--report-timeout', 'soon', '--', 'a'], POD, /^--report-timeout: /],
  ['bad report env', ['--', 'a'], { ...POD, AUTO_PORT_REPORT: 'maybe' }, /^AUTO_PORT_REPORT: /],
  ['no command', ['--count', '1'], POD, /missing command/],
  ['no POD_NAME while reporting', ['--', 'a'], { POD_NAMESPACE: 'x' }, /^POD_NAME: not set/],
  ['no POD_NAMESPACE while reporting', ['--', 'a'], { POD_NAME: 'x' }, /^POD_NAMESPACE: not set/],
];

for (const [name, argv, env, message] of invalid) {
  test(`invalid: ${name} → usage error naming the option`, (t) => {
    const err = t.throws(() => parseAutoportOptions(argv, env), { instanceOf: AutoportUsageError, message });
    t.is(err?.exitCode, EXIT_USAGE);
    t.false(err?.message.includes('\n'));
  });
}

test('pod identity is not needed with --no-report', (t) => {
  t.notThrows(() => parseAutoportOptions(['--no-report', '--', 'a'], {}));
});

test('--help needs no command', (t) => {
  t.true(parseAutoportOptions(['--help'], {}).help);
  t.true(parseAutoportOptions(['-h'], {}).help);
});
