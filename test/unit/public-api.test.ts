// The package's public API is the list below — values and types `import ... from 'switchyard'`
// gives. Adding or removing an export is a deliberate change: update this list, docs/plugins.md or
// docs/library.md, and the README's migration notes when it breaks something.
import test from 'ava';
import { readFileSync } from 'node:fs';
import * as api from '../../src/index.ts';

const VALUES = [
  'BodyTooLargeError', 'ClusterSource', 'ConfigError', 'FilesSource', 'MemorySource', 'PluginLoadError', 'ProxyErrors', 'Type',
  'createRouter', 'definePlugin', 'loadPlugins', 'testPlugin',
];

const TYPES = [
  'ApplyResult', 'BodyChunk', 'BodyResult', 'CreateRouterOptions', 'EndpointCandidate', 'EndpointInfo', 'ExchangeKind', 'FailureInfo',
  'FailureReason', 'GrpcCall', 'HarnessOptions', 'Kind', 'KubeObject', 'ListeningPorts', 'Middleware', 'Outcome', 'PhaseResult', 'Phases', 'Plugin',
  'PluginContext', 'PluginDefinition', 'PluginHarness', 'PluginLogger', 'PluginServices', 'ProxyErrorSpec', 'RouteInfo', 'Router',
  'RouterConfig', 'RoutesView', 'Source', 'SourceSink', 'Static', 'TSchema', 'TestFailure', 'TestRequest', 'TestResult', 'TlsInfo',
  'TraceAttributeValue', 'TraceView',
];

test('the runtime exports are exactly the public values', (t) => {
  t.deepEqual(Object.keys(api).sort(), [...VALUES].sort());
});

test('the type exports of src/index.ts are exactly the public types', (t) => {
  const source = readFileSync(new URL('../../src/index.ts', import.meta.url), 'utf8');
  const names = new Set<string>();
  for (const m of source.matchAll(/export\s+(type\s+)?\{([^}]*)\}/g)) {
    for (const raw of m[2]!.split(',')) {
      const item = raw.trim();
      if (item === '') continue;
      const isType = m[1] !== undefined || item.startsWith('type ');
      const name = item.replace(/^type\s+/, '').split(/\s+as\s+/).pop()!.trim();
      if (isType) names.add(name);
    }
  }
  t.deepEqual([...names].sort(), [...TYPES].sort());
});

test('nothing internal leaks: no runner, registry, table or proxy class', (t) => {
  for (const internal of ['PluginRegistry', 'PhaseRun', 'RouteChain', 'RouterProxy', 'Router', 'PluginContext', 'Exchange']) {
    t.false(internal in api, internal);
  }
});
