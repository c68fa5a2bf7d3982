// haproxy.router.openshift.io/hsts_header: Strict-Transport-Security on HTTPS responses.
// `max-age=<n>` required; `includeSubDomains` and `preload` optional; `;`-separated, any case.

import { Type } from 'typebox';
import { invalidAnnotation } from '../annotation-values.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { builtinPolicy } from './route-policy.ts';

export const HSTS_ANNOTATION = 'haproxy.router.openshift.io/hsts_header';

class Hsts {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }

  response(ctx: PluginContext): void {
    if (ctx.secure) ctx.responseHeaders!['strict-transport-security'] = this.#value;
  }
}

export const hstsPlugin = definePlugin({
  name: 'hsts',
  config: Type.Object({ value: Type.String({ pattern: '^max-age=\\d+(; includeSubDomains)?(; preload)?$' }) }, { additionalProperties: false }),
  create: (config) => new Hsts(config.value),
});

export const hstsPolicy = builtinPolicy({
  plugin: hstsPlugin,
  position: 'after',
  fromRoute({ annotations }) {
    const raw = annotations[HSTS_ANNOTATION];
    return raw === undefined ? null : { value: parseHsts(raw) };
  },
});

/** The header value, normalised (`max-age=31536000; includeSubDomains; preload`). */
export function parseHsts(raw: string, name: string = HSTS_ANNOTATION): string {
  let maxAge: string | null = null;
  let subdomains = false;
  let preload = false;
  for (const part of raw.split(';').map((p) => p.trim()).filter((p) => p !== '')) {
    const age = /^max-age\s*=\s*"?(\d+)"?$/i.exec(part);
    if (age) {
      if (maxAge !== null) invalidAnnotation(name, 'max-age given twice');
      maxAge = age[1]!;
    } else if (/^includesubdomains$/i.test(part)) {
      if (subdomains) invalidAnnotation(name, 'includeSubDomains given twice');
      subdomains = true;
    } else if (/^preload$/i.test(part)) {
      if (preload) invalidAnnotation(name, 'preload given twice');
      preload = true;
    } else {
      invalidAnnotation(name, `unknown directive "${part}" (allowed: max-age=<seconds>, includeSubDomains, preload)`);
    }
  }
  if (maxAge === null) invalidAnnotation(name, 'must contain max-age=<seconds>');
  return [`max-age=${maxAge}`, ...(subdomains ? ['includeSubDomains'] : []), ...(preload ? ['preload'] : [])].join('; ');
}
