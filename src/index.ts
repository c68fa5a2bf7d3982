// The library: `import { ... } from 'switchyard'`.
//   Plugins:  definePlugin, Type (TypeBox, for config schemas), the phase and context types,
//             testPlugin (unit-test a plugin without a router).
//   Embedding: createRouter, the Source interface, MemorySource, FilesSource, ClusterSource.
// See docs/plugins.md and docs/library.md.

export { Type } from 'typebox';
export type { Static, TSchema } from 'typebox';
export { definePlugin, type PluginDefinition } from './pipeline/define-plugin.ts';
export type {
  Phases, PhaseResult, Plugin, PluginServices, PluginLogger, RouteInfo, EndpointCandidate,
} from './pipeline/types.ts';
export { PluginContext, BodyTooLargeError, type TlsInfo, type GrpcCall, type Outcome, type ExchangeKind } from './pipeline/context.ts';
export { PluginRegistry, loadPlugins, PluginLoadError } from './pipeline/plugin-registry.ts';
export { testPlugin, type PluginHarness, type TestRequest, type TestResult, type HarnessOptions } from './pipeline/testing.ts';

export { createRouter, type CreateRouterOptions } from './embed.ts';
export { Router, type ListeningPorts, type RouterOptions } from './router.ts';
export type { RouterConfig } from './config.ts';
export type { Source, SourceSink, ApplyResult } from './sources/source.ts';
export { MemorySource } from './sources/memory.ts';
export { FilesSource } from './sources/file-source-adapter.ts';
export { ClusterSource } from './sources/cluster-source.ts';
export type { Kind, KubeObject, Middleware } from './objects/types.ts';
export type { CompiledRoute, CompiledMiddleware, HostEntry, AdmissionResult } from './table/types.ts';
export { ProxyErrors, type ProxyErrorSpec } from './errors.ts';
