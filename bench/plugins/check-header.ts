// Bench plugin: checks one request header (answers 403 when present; wrk never sends it).
import { definePlugin, Type } from 'switchyard';

export default definePlugin({
  name: 'bench-check-header',
  config: Type.Object({}),
  create: () => ({ request(ctx) { if (ctx.headers['x-deny'] !== undefined) ctx.respond(403, 'denied\n'); } }),
});
