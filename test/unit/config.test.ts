import test from 'ava';
import { parseConfig, parseDuration, ConfigError, OPTIONS, helpText } from '../../src/config.ts';

test('flags win over environment, environment over defaults', (t) => {
  const c = parseConfig(['--http-port', '8081', '--route-labels=shard=a'], { ROUTER_SERVICE_HTTP_PORT: '9000', STATS_PORT: '2000' });
  t.is(c.httpPort, 8081);
  t.is(c.adminPort, 2000);
  t.is(c.routeLabels, 'shard=a');
  t.is(c.httpsPort, 443);
  t.is(c.leaseName, 'switchyard-default');
});

test('repeatable --file accumulates; env list is comma separated', (t) => {
  t.deepEqual(parseConfig(['--file', 'a.yaml', '--file=b.yaml'], {}).file, ['a.yaml', 'b.yaml']);
  t.deepEqual(parseConfig([], { SWITCHYARD_FILES: 'x.yaml, y.yaml' }).file, ['x.yaml', 'y.yaml']);
});

test('booleans: bare flag, =false, env', (t) => {
  t.true(parseConfig(['--allow-wildcard-routes'], {}).allowWildcardRoutes);
  t.false(parseConfig(['--update-status=false'], {}).updateStatus);
  t.true(parseConfig([], { ROUTER_DISABLE_NAMESPACE_OWNERSHIP_CHECK: 'true' }).disableNamespaceOwnershipCheck);
});

test('--watch-list: auto by default (built-in kinds by one list, custom resources by watch-list); list, true and false as the bool it was (bare flag, bool spellings, booleans in createRouter\'s config)', async (t) => {
  const { configFromOptions } = await import('../../src/config.ts');
  t.is(parseConfig([], {}).watchList, 'auto');
  t.is(parseConfig(['--watch-list=list'], {}).watchList, 'list');
  t.is(parseConfig(['--watch-list'], {}).watchList, 'true');
  t.is(parseConfig(['--watch-list=false'], {}).watchList, 'false');
  t.is(parseConfig(['--watch-list=auto'], {}).watchList, 'auto');
  t.is(parseConfig([], { ROUTER_WATCH_LIST: '0' }).watchList, 'false');
  t.is(parseConfig([], { ROUTER_WATCH_LIST: 'yes' }).watchList, 'true');
  t.is(configFromOptions({ watchList: false }).watchList, 'false');
  t.is(configFromOptions({ watchList: 'auto' }).watchList, 'auto');
  t.throws(() => parseConfig(['--watch-list=sometimes'], {}), { instanceOf: ConfigError, message: /--watch-list.*auto, true, false, list/ });
});

test('unknown flags and invalid values name the option', (t) => {
  t.throws(() => parseConfig(['--nope'], {}), { instanceOf: ConfigError, message: /--nope/ });
  t.throws(() => parseConfig(['--http-port', 'eighty'], {}), { message: /--http-port/ });
  t.throws(() => parseConfig(['--http-port', '70000'], {}), { message: /--http-port.*65535/ });
  t.throws(() => parseConfig([], { ROUTER_LOAD_BALANCE_ALGORITHM: 'fastest' }), { message: /ROUTER_LOAD_BALANCE_ALGORITHM/ });
  t.throws(() => parseConfig(['--server-timeout', '5 parsecs'], {}), { message: /--server-timeout/ });
  t.throws(() => parseConfig(['--http-port'], {}), { message: /--http-port: missing value/ });
});

test('durations in HAProxy and Go notation', (t) => {
  t.is(parseDuration('5s'), 5000);
  t.is(parseDuration('300ms'), 300);
  t.is(parseDuration('1m30s'), 90_000);
  t.is(parseDuration('1h'), 3_600_000);
  t.is(parseDuration('2500'), 2500);
  t.throws(() => parseDuration('5x'));
});

test('every option has a unique flag and env var and appears in --help', (t) => {
  const flags = new Set<string>();
  const envs = new Set<string>();
  const help = helpText();
  for (const o of OPTIONS) {
    t.false(flags.has(o.flag), o.flag);
    flags.add(o.flag);
    if (o.env) { t.false(envs.has(o.env), o.env); envs.add(o.env); }
    t.true(help.includes(o.flag), o.flag);
  }
});

test('tracing options read the standard OTEL_* variables; flags win', (t) => {
  const c = parseConfig(['--trace-sampler-arg', '0.25'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://10.0.0.1:4318', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01',
    OTEL_PROPAGATORS: 'tracecontext,baggage,b3multi', OTEL_EXPORTER_OTLP_HEADERS: 'x-token=abc,tenant=a%20b', OTEL_BSP_SCHEDULE_DELAY: '200',
  });
  t.is(c.otlpEndpoint, 'http://10.0.0.1:4318');
  t.is(c.traceSampler, 'parentbased_traceidratio');
  t.is(c.traceSamplerArg, 0.25);
  t.deepEqual(c.tracePropagators, ['tracecontext', 'baggage', 'b3multi']);
  t.deepEqual(c.otlpHeaders, ['x-token=abc', 'tenant=a%20b']);
  t.is(c.traceBatchDelay, 200, 'OTEL_BSP_SCHEDULE_DELAY is in milliseconds');
  t.is(parseConfig([], {}).traceSamplerArg, 1);
  t.is(parseConfig([], { OTEL_TRACES_SAMPLER_ARG: '.5' }).traceSamplerArg, 0.5);
});

test('tracing options are checked: ratio range, known samplers and propagators, URLs, batch within queue', (t) => {
  t.throws(() => parseConfig([], { OTEL_TRACES_SAMPLER_ARG: '1.5' }), { message: /OTEL_TRACES_SAMPLER_ARG: must be <= 1/ });
  t.throws(() => parseConfig([], { OTEL_TRACES_SAMPLER_ARG: 'half' }), { message: /expected a number/ });
  t.throws(() => parseConfig([], { OTEL_TRACES_SAMPLER: 'jaeger_remote' }), { message: /OTEL_TRACES_SAMPLER/ });
  t.throws(() => parseConfig([], { OTEL_PROPAGATORS: 'tracecontext,xray' }), { message: /"xray" is not one of/ });
  t.throws(() => parseConfig(['--trace-propagators', 'none,b3'], {}), { message: /"none" cannot be combined/ });
  t.throws(() => parseConfig(['--otlp-endpoint', 'collector:4318'], {}), { message: /--otlp-endpoint.*http:\/\/ or https:\/\//s });
  t.throws(() => parseConfig(['--otlp-traces-endpoint', 'not a url'], {}), { message: /--otlp-traces-endpoint/ });
  t.throws(() => parseConfig(['--trace-batch-size', '4096'], {}), { message: /--trace-batch-size \(4096\) must not exceed --trace-queue-size \(2048\)/ });
  const err = t.throws(() => parseConfig([], { OTEL_EXPORTER_OTLP_HEADERS: 'secret-token-without-key' }));
  t.regex(err!.message, /--otlp-headers: entry 1 is not key=value/);
  t.false(err!.message.includes('secret-token'), 'a malformed header is not echoed: it may be a credential');
});

test('createRouter\'s config (configFromOptions) keeps number options: the sampling ratio (regression: it became undefined, so no new trace was ever sampled)', async (t) => {
  const { configFromOptions } = await import('../../src/config.ts');
  t.is(configFromOptions({ traceSamplerArg: 0.25 }).traceSamplerArg, 0.25);
  t.is(configFromOptions({}).traceSamplerArg, 1);
  t.is(configFromOptions(parseConfig(['--trace-sampler-arg', '0.01'], {}) as unknown as Record<string, unknown>).traceSamplerArg, 0.01, 'the CLI\'s parsed config through createRouter');
  t.throws(() => configFromOptions({ traceSamplerArg: 2 }), { message: /config\.traceSamplerArg: expected a number <= 1/ });
  t.throws(() => configFromOptions({ traceSamplerArg: '0.5' }), { message: /config\.traceSamplerArg: expected a number/ });
});
