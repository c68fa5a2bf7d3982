// haproxy.router.openshift.io/hsts_header: Strict-Transport-Security on HTTPS responses.

import type { PluginContext } from '../pipeline/context.ts';
import { builtin } from './define.ts';

class Hsts {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }

  response(ctx: PluginContext): void {
    if (ctx.secure) ctx.responseHeaders!['strict-transport-security'] = this.#value;
  }
}

export const hstsPlugin = builtin<string>('hsts', (value) => new Hsts(value));
