// The User-Agent of every request to the API server, as client-go builds one
// (`<binary>/<version> (<os>/<arch>) ...`), but naming what an operator needs to attribute load in
// audit logs, API Priority and Fairness and apiserver metrics: which router (its name, the key
// of its status entries and Lease) on which node.

import { hostname } from 'node:os';
import { packageVersion } from '../version.ts';

/**
 * `switchyard/<version> (<name>; <node>)`. `node`: the DaemonSet passes spec.nodeName (NODE_NAME);
 * without it, the host name, which for a host-network pod is the node's.
 */
export function userAgent(component: string, name: string, node = ''): string {
  return `${component}/${packageVersion()} (${clean(name)}; ${clean(node || hostname())})`;
}

/** Header-safe: no control characters, parentheses or semicolons from names. */
function clean(value: string): string {
  return value.replace(/[^\x21-\x7e]|[();]/g, '_') || '_';
}
