// The router's own plugins that a Middleware may name (`spec.plugin`) beside the loaded ones:
// every plugin registry of a router starts with them, in the primary (admission validates their
// configs) and in every worker. ip-allowlist and rate-limit are the connection checks of the
// OpenShift annotations, for routes that have no annotations of their own (Gateway API routes)
// and for every route at once (router-wide --middlewares): they hold on every way in, UDP too.

import type { Plugin } from '../pipeline/types.ts';
import compress from './compress.ts';
import { ipAllowlistPlugin } from './ip-allowlist.ts';
import { rateLimitPlugin } from './rate-limit.ts';

export const MIDDLEWARE_BUILTINS: readonly Plugin[] = Object.freeze([compress as Plugin, ipAllowlistPlugin as Plugin, rateLimitPlugin as Plugin]);
