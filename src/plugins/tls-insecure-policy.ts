// Route spec.tls.insecureEdgeTerminationPolicy on plain HTTP (None → 404, Redirect → 302 to
// https, Allow → served), and the rule that a passthrough route is reachable by TLS SNI only:
// decrypted HTTP naming a passthrough host (another SNI, or none) is never sent to its
// endpoints, which expect TLS. Every route with TLS has it.

import { Type } from 'typebox';
import { ProxyErrors } from '../errors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import type { InsecurePolicy, Termination } from '../table/types.ts';
import { builtinPolicy } from './route-policy.ts';

class TlsInsecurePolicy {
  readonly #termination: Termination;
  readonly #insecurePolicy: InsecurePolicy;
  constructor(termination: Termination, insecurePolicy: InsecurePolicy) {
    this.#termination = termination;
    this.#insecurePolicy = insecurePolicy;
  }

  request(ctx: PluginContext): void {
    if (ctx.secure) {
      if (this.#termination === 'passthrough') phaseRunOf(ctx).respondError(ProxyErrors.NO_ROUTE);
      return;
    }
    if (this.#insecurePolicy === 'Allow') return;
    if (this.#insecurePolicy === 'Redirect') {
      ctx.respond(302, '', { location: `https://${stripPort(ctx.host)}${ctx.url}`, 'content-length': 0 });
      return;
    }
    phaseRunOf(ctx).respondError(ProxyErrors.NO_ROUTE);
  }
}

const TERMINATION = Type.Union([Type.Literal('edge'), Type.Literal('passthrough'), Type.Literal('reencrypt')]);
const INSECURE = Type.Union([Type.Literal('None'), Type.Literal('Allow'), Type.Literal('Redirect')]);

export const tlsInsecurePolicyPlugin = definePlugin({
  name: 'tls-insecure-policy',
  config: Type.Object({ termination: TERMINATION, insecurePolicy: INSECURE }, { additionalProperties: false }),
  create: (c) => new TlsInsecurePolicy(c.termination, c.insecurePolicy),
});

/** One frozen config per (termination, policy) pair, shared by every route with it. */
const CONFIGS = new Map<string, { termination: Termination; insecurePolicy: InsecurePolicy }>();

export const tlsInsecurePolicy = builtinPolicy({
  plugin: tlsInsecurePolicyPlugin,
  position: 'guard',
  fromRoute({ tls }) {
    if (tls === null) return null;
    const key = `${tls.termination}/${tls.insecurePolicy}`;
    let config = CONFIGS.get(key);
    if (config === undefined) CONFIGS.set(key, (config = Object.freeze({ termination: tls.termination, insecurePolicy: tls.insecurePolicy })));
    return config;
  },
});

export function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}
