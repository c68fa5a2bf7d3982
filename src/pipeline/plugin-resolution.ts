// Plugin modules import `switchyard` (definePlugin, Type, the types). A plugin is a file the
// operator points at — a lone `auth.ts` beside the routes file, a package in some other
// node_modules — and need not have switchyard installed where it lies: its `import … from
// 'switchyard'` resolves to the router that loads it. One copy of the API in the process, the
// one whose definePlugin and TypeBox the registry checks against, whatever else is on disk.
// A synchronous module hook (module.registerHooks), registered once, before the first plugin
// is imported; every other specifier resolves as Node would.

import module from 'node:module';

let registered = false;

/** Make `import … from 'switchyard'` in modules loaded from now on resolve to this router. */
export function resolveSwitchyardToThisRouter(): void {
  if (registered) return;
  registered = true;
  const register = (module as { registerHooks?: (hooks: object) => unknown }).registerHooks;
  if (typeof register !== 'function') return; // Node < 22.15: plugins need switchyard installed beside them
  // This package's own entry point (a package may import itself by name: its exports map).
  const self = import.meta.resolve('switchyard');
  register({
    resolve(specifier: string, context: object, nextResolve: (s: string, c: object) => object): object {
      if (specifier === 'switchyard') return { url: self, format: 'module', shortCircuit: true };
      return nextResolve(specifier, context);
    },
  });
}
