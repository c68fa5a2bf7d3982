// Route spec.tls.insecureEdgeTerminationPolicy on plain HTTP (None → 404, Redirect → 302 to
// https, Allow → served), and the rule that a passthrough route is reachable by TLS SNI only:
// decrypted HTTP naming a passthrough host (another SNI, or none) is never sent to its
// endpoints, which expect TLS.

import { ProxyErrors } from '../errors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import type { CompiledTls } from '../table/types.ts';
import { builtin } from './define.ts';

class TlsInsecurePolicy {
  readonly #tls: CompiledTls;
  constructor(tls: CompiledTls) {
    this.#tls = tls;
  }

  request(ctx: PluginContext): void {
    const tls = this.#tls;
    if (ctx.secure) {
      if (tls.termination === 'passthrough') phaseRunOf(ctx).respondError(ProxyErrors.NO_ROUTE);
      return;
    }
    if (tls.insecurePolicy === 'Allow') return;
    if (tls.insecurePolicy === 'Redirect') {
      ctx.respond(302, '', { location: `https://${stripPort(ctx.host)}${ctx.url}`, 'content-length': 0 });
      return;
    }
    phaseRunOf(ctx).respondError(ProxyErrors.NO_ROUTE);
  }
}

export const tlsInsecurePolicyPlugin = builtin<CompiledTls>('tls-insecure-policy', (tls) => new TlsInsecurePolicy(tls));

export function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}
