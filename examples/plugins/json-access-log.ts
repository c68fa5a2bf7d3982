// JSON access log: one line per exchange (HTTP, Upgrade, passthrough), written after it ends,
// to a file (appended) or to standard output.

import { createWriteStream, type WriteStream } from 'node:fs';
import { definePlugin, Type, type PluginContext } from 'switchyard';

export default definePlugin({
  name: 'json-access-log',
  config: Type.Object({
    /** File to append to; absent = standard output. */
    path: Type.Optional(Type.String({ minLength: 1 })),
  }, { additionalProperties: false }),
  create(config, services) {
    // One stream per file, kept when the route's runtime is rebuilt.
    const out: WriteStream | NodeJS.WriteStream = config.path === undefined
      ? process.stdout
      : services.retain(`file:${config.path}`, () => createWriteStream(config.path!, { flags: 'a' }));
    return {
      log(ctx: PluginContext): void {
        out.write(`${JSON.stringify({
          time: new Date().toISOString(),
          route: `${ctx.route.namespace}/${ctx.route.name}`,
          kind: ctx.kind,
          client: ctx.clientAddress,
          method: ctx.method,
          host: ctx.host,
          path: ctx.url,
          status: ctx.status,
          outcome: ctx.outcome,
          endpoint: ctx.endpoint?.endpoint.name ?? null,
          ms: Math.round(ctx.durationMs * 100) / 100,
        })}\n`);
      },
    };
  },
});
