// The router's own plugins that a Middleware may name (`spec.plugin`) beside the loaded ones:
// every plugin registry of a router starts with them, in the primary (admission validates their
// configs) and in every worker.

import type { Plugin } from '../pipeline/types.ts';
import compress from './compress.ts';

export const MIDDLEWARE_BUILTINS: readonly Plugin[] = Object.freeze([compress as Plugin]);
