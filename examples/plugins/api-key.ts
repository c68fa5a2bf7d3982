// API-key check: a request must carry one of the configured keys, in `X-Api-Key` (or the
// configured header) or as `Authorization: Bearer <key>`; others get 401. The key never
// reaches the backend. Keys are compared by SHA-256 digest, so the time taken does not depend
// on how much of a key matched.
//
//   apiVersion: switchyard.io/v1alpha1
//   kind: Middleware
//   metadata: { name: auth, namespace: shop }
//   spec: { plugin: api-key, config: { keys: ["s3cret"] } }

import { createHash } from 'node:crypto';
import { definePlugin, Type, type PluginContext } from 'switchyard';

const digest = (key: string): string => createHash('sha256').update(key).digest('hex');

export default definePlugin({
  name: 'api-key',
  config: Type.Object({
    keys: Type.Array(Type.String({ minLength: 8 }), { minItems: 1 }),
    header: Type.String({ default: 'x-api-key', pattern: '^[A-Za-z0-9-]+$' }),
  }, { additionalProperties: false }),
  create(config) {
    const header = config.header.toLowerCase();
    const accepted = new Set(config.keys.map(digest));
    return {
      request(ctx: PluginContext): void {
        let presented = ctx.headers[header];
        if (presented === undefined) {
          const auth = ctx.headers.authorization;
          if (auth !== undefined && auth.startsWith('Bearer ')) presented = auth.slice(7);
        }
        if (typeof presented !== 'string' || !accepted.has(digest(presented))) {
          ctx.respond(401, 'missing or invalid API key\n', { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' });
        }
      },
      upstreamRequest(ctx: PluginContext): void {
        ctx.removeUpstreamHeader(header);
        ctx.removeUpstreamHeader('authorization');
      },
    };
  },
});
