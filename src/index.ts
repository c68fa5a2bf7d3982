// The library: `import { ... } from 'switchyard'` — the public API, and nothing else (the list is
// pinned by test/unit/public-api.test.ts: adding an export is a deliberate change).
//   Plugins:   definePlugin, Type (TypeBox, for config schemas), the phase and context types,
//              testPlugin (unit-test a plugin without a router), loadPlugins.
//   Embedding: createRouter, the Source interface, MemorySource, FilesSource, ClusterSource.
// See docs/plugins.md and docs/library.md.

export { Type } from 'typebox';
export type { Static, TSchema } from 'typebox';
export { definePlugin, type PluginDefinition } from './pipeline/define-plugin.ts';
export type {
  Phases, PhaseResult, BodyResult, BodyChunk, Plugin, PluginServices, PluginLogger, RouteInfo, EndpointCandidate, EndpointInfo,
  FailureInfo, FailureReason,
} from './pipeline/types.ts';
export type { PluginContext, TlsInfo, GrpcCall, Outcome, ExchangeKind, TraceView, TraceAttributeValue } from './pipeline/context.ts';
export { BodyTooLargeError } from './pipeline/phase-run.ts';
export { loadPlugins, PluginLoadError } from './pipeline/plugin-registry.ts';
export { testPlugin, type PluginHarness, type TestRequest, type TestResult, type TestFailure, type HarnessOptions } from './pipeline/testing.ts';

export { createRouter, type CreateRouterOptions } from './embed.ts';
export type { Router, ListeningPorts } from './router.ts';
export type { RoutesView } from './admin/debug-routes.ts';
export { ConfigError, type RouterConfig } from './config.ts';
export type { Source, SourceSink, ApplyResult } from './sources/source.ts';
export { MemorySource } from './sources/memory.ts';
export { FilesSource } from './sources/file-source-adapter.ts';
export { ClusterSource } from './sources/cluster-source.ts';
export type { Kind, KubeObject, Middleware } from './objects/types.ts';
export { ProxyErrors, type ProxyErrorSpec } from './errors.ts';
